//! A restricted pickle reader: enough of the pickle virtual machine to rebuild the containers,
//! plain values and tensor references of a `torch.save` checkpoint, and nothing that runs code.
//!
//! Python's unpickler imports whatever `GLOBAL` names and calls it on `REDUCE`; this reader
//! never imports or calls anything. It recognises a fixed set of names by string
//! (`torch._utils._rebuild_tensor_v2` and its siblings, the `torch.*Storage` types,
//! `collections.OrderedDict`, dtype names, `_codecs.encode`) and evaluates those itself; every
//! other name becomes [`Value::Global`], and "calling" it only records an opaque
//! [`Obj::Call`] with its arguments, so `os.system(...)` in a hostile file is inert data.
//!
//! Opcodes: protocols 0–5 (including `FRAME`, `MEMOIZE`, `STACK_GLOBAL`, `NEWOBJ_EX`), except
//! the extension registry (`EXT1/2/4`) and out-of-band buffers, which are errors.
//! Reference: CPython `Lib/pickletools.py` (opcode table) and `Lib/pickle.py` (`_Unpickler`).
//!
//! Everything is bounded: strings and byte runs by the bytes remaining, the stack, the mark
//! stack, the memo and the object arena by [`MAX_VALUES`] in total, so a hostile pickle costs
//! memory proportional to its length at most.

use std::collections::HashMap;
use std::rc::Rc;

use crate::dtype::DType;

/// Most values (stack entries, memo entries, container objects) one pickle may create; a state
/// dict of a million tensors stays well below it.
pub(crate) const MAX_VALUES: usize = 1 << 24;

/// Deepest nesting the flattening of a loaded value follows (state dicts nest a few levels).
pub(crate) const MAX_DEPTH: usize = 64;

/// What a storage reference's class says about its elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StorageKind {
    /// A typed storage (`torch.FloatStorage`, ...): elements of this dtype.
    Typed(DType),
    /// `torch.UntypedStorage` (bytes; the tensor's dtype comes from `_rebuild_tensor_v3`).
    Untyped,
    /// A storage class this reader does not decode (complex, quantized).
    Unsupported(&'static str),
}

/// A name a `GLOBAL` or `STACK_GLOBAL` opcode asked for, recognised or not.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Global {
    /// `torch._utils._rebuild_tensor(storage, offset, size, stride)`.
    RebuildTensor,
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])`.
    RebuildTensorV3,
    /// `torch._utils._rebuild_parameter(data, requires_grad, hooks)` and `_with_state`.
    RebuildParameter,
    /// A storage class.
    Storage(StorageKind),
    /// A dtype object (`torch.float8_e4m3fn`, ...), as `_rebuild_tensor_v3` takes it.
    Dtype(Option<DType>, Rc<str>),
    /// `collections.OrderedDict`.
    OrderedDict,
    /// `_codecs.encode(text, 'latin1')`: how protocol 2 pickles `bytes`.
    CodecsEncode,
    /// Anything else, by its qualified name; never called.
    Other(Rc<str>),
}

impl Global {
    fn resolve(module: &str, name: &str) -> Global {
        use DType::*;
        let typed = |d| Global::Storage(StorageKind::Typed(d));
        match (module, name) {
            ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
            ("torch._utils", "_rebuild_tensor_v3") => Global::RebuildTensorV3,
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                Global::RebuildParameter
            }
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("_codecs", "encode") => Global::CodecsEncode,
            ("torch", "DoubleStorage") => typed(F64),
            ("torch", "FloatStorage") => typed(F32),
            ("torch", "HalfStorage") => typed(F16),
            ("torch", "BFloat16Storage") => typed(BF16),
            ("torch", "LongStorage") => typed(I64),
            ("torch", "IntStorage") => typed(I32),
            ("torch", "ShortStorage") => typed(I16),
            ("torch", "CharStorage") => typed(I8),
            ("torch", "ByteStorage") => typed(U8),
            ("torch", "BoolStorage") => typed(Bool),
            ("torch", "UntypedStorage") | ("torch.storage", "UntypedStorage") => {
                Global::Storage(StorageKind::Untyped)
            }
            ("torch", "ComplexFloatStorage") => {
                Global::Storage(StorageKind::Unsupported("complex64"))
            }
            ("torch", "ComplexDoubleStorage") => {
                Global::Storage(StorageKind::Unsupported("complex128"))
            }
            ("torch", "QInt8Storage" | "QUInt8Storage" | "QInt32Storage" | "QUInt4x2Storage")
            | ("torch", "QUInt2x4Storage") => {
                Global::Storage(StorageKind::Unsupported("quantized"))
            }
            ("torch", dtype) => match dtype_named(dtype) {
                Some(d) => Global::Dtype(d, dtype.into()),
                None => Global::Other(format!("torch.{name}").into()),
            },
            _ => Global::Other(format!("{module}.{name}").into()),
        }
    }

    /// The name as Python spells it, for messages.
    pub(crate) fn name(&self) -> String {
        match self {
            Global::RebuildTensor => "torch._utils._rebuild_tensor".into(),
            Global::RebuildTensorV2 => "torch._utils._rebuild_tensor_v2".into(),
            Global::RebuildTensorV3 => "torch._utils._rebuild_tensor_v3".into(),
            Global::RebuildParameter => "torch._utils._rebuild_parameter".into(),
            Global::Storage(k) => format!("torch storage class ({k:?})"),
            Global::Dtype(_, n) => format!("torch.{n}"),
            Global::OrderedDict => "collections.OrderedDict".into(),
            Global::CodecsEncode => "_codecs.encode".into(),
            Global::Other(n) => n.to_string(),
        }
    }
}

/// `Some(Some(dtype))` for a torch dtype attribute this crate decodes, `Some(None)` for one it
/// knows but does not decode, `None` for anything that is not a dtype name.
fn dtype_named(name: &str) -> Option<Option<DType>> {
    use DType::*;
    Some(Some(match name {
        "float64" | "double" => F64,
        "float32" | "float" => F32,
        "float16" | "half" => F16,
        "bfloat16" => BF16,
        "int64" | "long" => I64,
        "int32" | "int" => I32,
        "int16" | "short" => I16,
        "int8" => I8,
        "uint8" => U8,
        "uint16" => U16,
        "uint32" => U32,
        "uint64" => U64,
        "bool" => Bool,
        "float8_e4m3fn" => F8E4M3,
        "float8_e5m2" => F8E5M2,
        "float8_e4m3fnuz" | "float8_e5m2fnuz" | "complex32" | "complex64" | "complex128"
        | "cfloat" | "cdouble" | "bits8" | "bits16" | "bits1x8" | "bits2x4" | "bits4x2"
        | "float8_e8m0fnu" | "float4_e2m1fn_x2" => return Some(None),
        _ => return None,
    }))
}

/// A loaded value. Containers live in the [`Loaded::objs`] arena so that the memo, the stack
/// and parents share them (a list memoized while empty and filled later is the filled list).
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A wider integer, as its little-endian two's-complement bytes (the legacy magic number).
    BigInt(Rc<[u8]>),
    /// A float.
    Float(f64),
    /// A text string.
    Str(Rc<str>),
    /// A byte string.
    Bytes(Rc<[u8]>),
    /// A tuple.
    Tuple(Rc<[Value]>),
    /// A list, dict, set or opaque call in the arena.
    Obj(usize),
    /// A name from `GLOBAL`, not called.
    Global(Rc<Global>),
    /// A storage reference (index into [`Loaded::storages`]).
    Storage(usize),
    /// A rebuilt tensor (index into [`Loaded::tensors`]).
    Tensor(usize),
}

/// A mutable container, or the record of a call that was not made.
#[derive(Debug)]
pub(crate) enum Obj {
    /// A list.
    List(Vec<Value>),
    /// A dict or `OrderedDict`, items in insertion order (duplicates resolved by the reader of
    /// the result); `state` is what `BUILD` gave it (PyTorch's `_metadata`).
    Dict {
        /// Key/value pairs as set.
        items: Vec<(Value, Value)>,
        /// State applied with `BUILD`.
        state: Option<Value>,
    },
    /// A set or frozenset.
    Set(Vec<Value>),
    /// `func(*args)` for a callable this reader does not evaluate; `state` from `BUILD`.
    Call {
        /// The qualified name of the callable (`os.system`, `argparse.Namespace`, ...).
        func: String,
        /// The arguments it would have been called with.
        args: Value,
        /// State applied with `BUILD`.
        state: Option<Value>,
    },
}

/// A storage named by a persistent id: `('storage', class, key, location, numel[, view])`.
#[derive(Clone, Debug)]
pub(crate) struct StorageRef {
    /// What its class says about its elements.
    pub kind: StorageKind,
    /// Its key (the zip entry `data/<key>`, or the legacy key).
    pub key: String,
    /// Its size in elements of its class (bytes for `UntypedStorage`).
    pub numel: u64,
    /// Legacy storage views: `(view key, offset, size)` in elements of the root storage.
    pub view: Option<(String, u64, u64)>,
}

/// A tensor rebuilt from its storage, offset, size and stride.
#[derive(Clone, Debug)]
pub(crate) struct TensorRef {
    /// Index into [`Loaded::storages`].
    pub storage: usize,
    /// The dtype `_rebuild_tensor_v3` gave, if any.
    pub dtype: Option<Result<DType, Rc<str>>>,
    /// Offset of the first element, in elements.
    pub offset: u64,
    /// Shape.
    pub size: Vec<u64>,
    /// Strides in elements.
    pub stride: Vec<u64>,
}

/// The outcome of loading one pickle.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The arena of containers and calls.
    pub objs: Vec<Obj>,
    /// Every storage reference met, in order.
    pub storages: Vec<StorageRef>,
    /// Every tensor rebuilt, in order.
    pub tensors: Vec<TensorRef>,
    /// The highest `PROTO` seen (0 when the pickle has none).
    pub protocol: u8,
}

/// Why a pickle could not be followed, with the byte offset of the opcode.
#[derive(Debug)]
pub(crate) struct PickleError {
    /// Offset of the opcode (relative to the pickle's first byte).
    pub at: usize,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pickle opcode at offset {}: {}", self.at, self.what)
    }
}

type Res<T> = Result<T, String>;

/// Loads one pickle from `data[start..]`, sharing `loaded`'s arena (so several pickles of a
/// legacy file can be loaded into one [`Loaded`]). Returns the value and the offset just past
/// its `STOP`.
pub(crate) fn load(
    data: &[u8],
    start: usize,
    loaded: &mut Loaded,
) -> Result<(Value, usize), PickleError> {
    let mut m = Machine {
        data,
        pos: start,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        loaded,
        created: 0,
    };
    loop {
        let at = m.pos;
        match m.step() {
            Ok(Some(v)) => return Ok((v, m.pos)),
            Ok(None) => {}
            Err(what) => {
                return Err(PickleError {
                    at: at - start,
                    what,
                })
            }
        }
    }
}

struct Machine<'a, 'l> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    loaded: &'l mut Loaded,
    created: usize,
}

impl Machine<'_, '_> {
    fn count(&mut self) -> Res<()> {
        self.created += 1;
        if self.created > MAX_VALUES {
            return Err(format!("pickle creates more than {MAX_VALUES} values"));
        }
        Ok(())
    }

    fn push(&mut self, v: Value) -> Res<()> {
        self.count()?;
        self.stack.push(v);
        Ok(())
    }

    fn new_obj(&mut self, o: Obj) -> Res<Value> {
        self.count()?;
        self.loaded.objs.push(o);
        Ok(Value::Obj(self.loaded.objs.len() - 1))
    }

    fn pop(&mut self) -> Res<Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err("stack underflow".into());
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    fn top(&self) -> Res<&Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err("stack underflow".into());
        }
        Ok(self.stack.last().expect("checked above"))
    }

    fn pop_mark(&mut self) -> Res<Vec<Value>> {
        let m = self.marks.pop().ok_or("no mark on the stack")?;
        Ok(self.stack.split_off(m))
    }

    fn take(&mut self, n: usize) -> Res<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                format!(
                    "needs {n} bytes, {} remain",
                    self.data.len().saturating_sub(self.pos)
                )
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Res<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }

    fn u32(&mut self) -> Res<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Res<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    /// A length read from the pickle, checked against the bytes that remain.
    fn len(&mut self, n: u64) -> Res<usize> {
        let rest = (self.data.len() - self.pos) as u64;
        if n > rest {
            return Err(format!("length {n} is past the end ({rest} bytes remain)"));
        }
        Ok(n as usize)
    }

    fn line(&mut self) -> Res<&[u8]> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated text argument")?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }

    fn text_line(&mut self) -> Res<String> {
        let l = self.line()?;
        std::str::from_utf8(l)
            .map(str::to_owned)
            .map_err(|_| "text argument is not UTF-8".into())
    }

    fn str_value(&mut self, n: usize) -> Res<Value> {
        let b = self.take(n)?;
        let s = String::from_utf8_lossy(b);
        Ok(Value::Str(s.into()))
    }

    fn memo_put(&mut self, key: u64) -> Res<()> {
        let v = self.top()?.clone();
        if self.memo.len() >= MAX_VALUES {
            return Err(format!("memo holds more than {MAX_VALUES} entries"));
        }
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Res<()> {
        let v = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("memo key {key} was never stored"))?;
        self.push(v)
    }

    /// Runs one opcode; `Some(value)` at `STOP`.
    fn step(&mut self) -> Res<Option<Value>> {
        let op = self.u8()?;
        match op {
            0x80 => {
                // PROTO
                let p = self.u8()?;
                if p > 5 {
                    return Err(format!("unsupported pickle protocol {p}"));
                }
                self.loaded.protocol = self.loaded.protocol.max(p);
            }
            0x95 => {
                // FRAME: a length prefix for the opcodes that follow; nothing to do.
                self.u64()?;
            }
            b'.' => {
                // STOP
                let v = self.pop()?;
                if !self.marks.is_empty() {
                    return Err("STOP with an open mark".into());
                }
                return Ok(Some(v));
            }
            b'(' => {
                if self.marks.len() >= MAX_VALUES {
                    return Err("too many marks".into());
                }
                self.count()?;
                self.marks.push(self.stack.len());
            }
            b'0' => {
                // POP: with the current frame empty, Python pops the mark instead.
                if self.stack.len() == self.marks.last().copied().unwrap_or(usize::MAX) {
                    self.marks.pop();
                } else {
                    self.pop()?;
                }
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let v = self.top()?.clone();
                self.push(v)?;
            }
            b'N' => self.push(Value::None)?,
            0x88 => self.push(Value::Bool(true))?,
            0x89 => self.push(Value::Bool(false))?,
            b'I' => {
                let l = self.text_line()?;
                let v = match l.as_str() {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    s => Value::Int(s.trim().parse().map_err(|_| format!("bad INT `{s}`"))?),
                };
                self.push(v)?;
            }
            b'J' => {
                let v = i32::from_le_bytes(self.take(4)?.try_into().expect("4"));
                self.push(Value::Int(v.into()))?;
            }
            b'K' => {
                let v = self.u8()?;
                self.push(Value::Int(v.into()))?;
            }
            b'M' => {
                let v = self.u16()?;
                self.push(Value::Int(v.into()))?;
            }
            b'L' => {
                let l = self.text_line()?;
                let s = l.trim_end_matches('L');
                let v = match s.parse::<i64>() {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Str(format!("int {s}").into()),
                };
                self.push(v)?;
            }
            0x8a => {
                let n = self.u8()? as u64;
                let n = self.len(n)?;
                let v = long(self.take(n)?);
                self.push(v)?;
            }
            0x8b => {
                let n = self.u32()? as u64;
                let n = self.len(n)?;
                let v = long(self.take(n)?);
                self.push(v)?;
            }
            b'F' => {
                let l = self.text_line()?;
                let v: f64 = l.trim().parse().map_err(|_| format!("bad FLOAT `{l}`"))?;
                self.push(Value::Float(v))?;
            }
            b'G' => {
                let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8"));
                self.push(Value::Float(v))?;
            }
            b'S' => {
                // STRING: a Python repr of a str (protocol 0); quotes stripped, escapes kept.
                let l = self.text_line()?;
                let s = l.trim();
                let inner = s
                    .strip_prefix(['\'', '"'])
                    .and_then(|s| s.strip_suffix(['\'', '"']))
                    .unwrap_or(s);
                self.push(Value::Str(inner.into()))?;
            }
            b'V' => {
                let l = self.text_line()?;
                self.push(Value::Str(l.into()))?;
            }
            b'T' => {
                let n = self.u32()? as u64;
                let n = self.len(n)?;
                let v = self.str_value(n)?;
                self.push(v)?;
            }
            b'U' => {
                let n = self.u8()? as usize;
                let v = self.str_value(n)?;
                self.push(v)?;
            }
            b'X' => {
                let n = self.u32()? as u64;
                let n = self.len(n)?;
                let v = self.str_value(n)?;
                self.push(v)?;
            }
            0x8c => {
                let n = self.u8()? as usize;
                let v = self.str_value(n)?;
                self.push(v)?;
            }
            0x8d => {
                let n = self.u64()?;
                let n = self.len(n)?;
                let v = self.str_value(n)?;
                self.push(v)?;
            }
            b'B' | b'C' | 0x8e | 0x96 => {
                let n = match op {
                    b'B' => self.u32()? as u64,
                    b'C' => self.u8()? as u64,
                    _ => self.u64()?,
                };
                let n = self.len(n)?;
                let b: Rc<[u8]> = self.take(n)?.into();
                self.push(Value::Bytes(b))?;
            }
            0x97 | 0x98 => return Err("out-of-band buffers are not supported".into()),
            b')' => self.push(Value::Tuple(Rc::new([])))?,
            b't' => {
                let items = self.pop_mark()?;
                self.push(Value::Tuple(items.into()))?;
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push(Value::Tuple(items.into()))?;
            }
            b']' => {
                let v = self.new_obj(Obj::List(Vec::new()))?;
                self.push(v)?;
            }
            b'l' => {
                let items = self.pop_mark()?;
                let v = self.new_obj(Obj::List(items))?;
                self.push(v)?;
            }
            b'a' => {
                let v = self.pop()?;
                self.append(vec![v])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.append(items)?;
            }
            b'}' => {
                let v = self.new_obj(Obj::Dict {
                    items: Vec::new(),
                    state: None,
                })?;
                self.push(v)?;
            }
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                let v = self.new_obj(Obj::Dict {
                    items: pairs,
                    state: None,
                })?;
                self.push(v)?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![(k, v)])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                let p = pairs(items)?;
                self.set_items(p)?;
            }
            0x8f => {
                let v = self.new_obj(Obj::Set(Vec::new()))?;
                self.push(v)?;
            }
            0x90 => {
                let items = self.pop_mark()?;
                match self.top()? {
                    &Value::Obj(i) => match &mut self.loaded.objs[i] {
                        Obj::Set(s) => s.extend(items),
                        _ => return Err("ADDITEMS on something that is not a set".into()),
                    },
                    _ => return Err("ADDITEMS on something that is not a set".into()),
                }
            }
            0x91 => {
                let items = self.pop_mark()?;
                let v = self.new_obj(Obj::Set(items))?;
                self.push(v)?;
            }
            b'g' => {
                let l = self.text_line()?;
                let k = l.trim().parse().map_err(|_| format!("bad GET `{l}`"))?;
                self.memo_get(k)?;
            }
            b'h' => {
                let k = self.u8()? as u64;
                self.memo_get(k)?;
            }
            b'j' => {
                let k = self.u32()? as u64;
                self.memo_get(k)?;
            }
            b'p' => {
                let l = self.text_line()?;
                let k = l.trim().parse().map_err(|_| format!("bad PUT `{l}`"))?;
                self.memo_put(k)?;
            }
            b'q' => {
                let k = self.u8()? as u64;
                self.memo_put(k)?;
            }
            b'r' => {
                let k = self.u32()? as u64;
                self.memo_put(k)?;
            }
            0x94 => {
                let k = self.memo.len() as u64;
                self.memo_put(k)?;
            }
            b'c' => {
                let module = self.text_line()?;
                let name = self.text_line()?;
                self.push(Value::Global(Rc::new(Global::resolve(&module, &name))))?;
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => {
                        self.push(Value::Global(Rc::new(Global::resolve(&m, &n))))?
                    }
                    _ => return Err("STACK_GLOBAL needs two strings".into()),
                }
            }
            b'R' => {
                let args = self.pop()?;
                let func = self.pop()?;
                let v = self.call(func, args)?;
                self.push(v)?;
            }
            0x81 => {
                let args = self.pop()?;
                let cls = self.pop()?;
                let v = self.call(cls, args)?;
                self.push(v)?;
            }
            0x92 => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                let v = self.call(cls, args)?;
                self.push(v)?;
            }
            b'i' => {
                let module = self.text_line()?;
                let name = self.text_line()?;
                let args = self.pop_mark()?;
                let g = Value::Global(Rc::new(Global::resolve(&module, &name)));
                let v = self.call(g, Value::Tuple(args.into()))?;
                self.push(v)?;
            }
            b'o' => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return Err("OBJ without a class".into());
                }
                let cls = items.remove(0);
                let v = self.call(cls, Value::Tuple(items.into()))?;
                self.push(v)?;
            }
            b'b' => {
                let state = self.pop()?;
                let target = self.top()?.clone();
                if let Value::Obj(i) = target {
                    match &mut self.loaded.objs[i] {
                        Obj::Dict { state: s, .. } | Obj::Call { state: s, .. } => *s = Some(state),
                        // Python would call `__setstate__`; a list or set has none to apply.
                        Obj::List(_) | Obj::Set(_) => {}
                    }
                }
                // BUILD on a tensor (a `Parameter` subclass's state) or a plain value: ignored.
            }
            b'P' => {
                let l = self.text_line()?;
                let v = self.persistent(Value::Str(l.into()))?;
                self.push(v)?;
            }
            b'Q' => {
                let pid = self.pop()?;
                let v = self.persistent(pid)?;
                self.push(v)?;
            }
            0x82..=0x84 => {
                return Err("the copyreg extension registry (EXT1/2/4) is not supported".into())
            }
            _ => return Err(format!("unsupported opcode 0x{op:02x}")),
        }
        Ok(None)
    }

    fn append(&mut self, items: Vec<Value>) -> Res<()> {
        match self.top()? {
            &Value::Obj(i) => match &mut self.loaded.objs[i] {
                Obj::List(l) => {
                    l.extend(items);
                    Ok(())
                }
                // `list.extend` on an opaque object: Python would call its `extend`/`append`.
                Obj::Call { .. } => Ok(()),
                _ => Err("APPEND to something that is not a list".into()),
            },
            _ => Err("APPEND to something that is not a list".into()),
        }
    }

    fn set_items(&mut self, pairs: Vec<(Value, Value)>) -> Res<()> {
        match self.top()? {
            &Value::Obj(i) => match &mut self.loaded.objs[i] {
                Obj::Dict { items, .. } => {
                    items.extend(pairs);
                    Ok(())
                }
                // `obj[key] = value` on an opaque object: nothing to follow.
                Obj::Call { .. } => Ok(()),
                _ => Err("SETITEM on something that is not a dict".into()),
            },
            _ => Err("SETITEM on something that is not a dict".into()),
        }
    }

    /// `func(*args)`: evaluated for the recognised names, recorded for any other.
    fn call(&mut self, func: Value, args: Value) -> Res<Value> {
        let Value::Tuple(a) = &args else {
            return Err("REDUCE arguments are not a tuple".into());
        };
        let g = match &func {
            Value::Global(g) => g.clone(),
            _ => {
                return self.new_obj(Obj::Call {
                    func: "<a value that is not a global>".into(),
                    args,
                    state: None,
                })
            }
        };
        match &*g {
            Global::RebuildTensor | Global::RebuildTensorV2 => self.rebuild(a, None),
            Global::RebuildTensorV3 => {
                let dtype = match a.get(6) {
                    Some(Value::Global(d)) => match &**d {
                        Global::Dtype(Some(d), _) => Ok(*d),
                        Global::Dtype(None, n) => Err(n.clone()),
                        other => Err(other.name().into()),
                    },
                    _ => return Err("_rebuild_tensor_v3 without a dtype".into()),
                };
                self.rebuild(a, Some(dtype))
            }
            Global::RebuildParameter => match a.first() {
                Some(t @ Value::Tensor(_)) => Ok(t.clone()),
                // A parameter around something this reader does not rebuild (a quantized
                // tensor): as opaque as its contents.
                _ => self.new_obj(Obj::Call {
                    func: g.name(),
                    args,
                    state: None,
                }),
            },
            Global::OrderedDict => {
                let items = match a.first() {
                    None => Vec::new(),
                    Some(v) => self.pairs_of(v)?,
                };
                self.new_obj(Obj::Dict { items, state: None })
            }
            Global::CodecsEncode => match (a.first(), a.get(1)) {
                (Some(Value::Str(s)), Some(Value::Str(enc))) if &**enc == "latin1" => {
                    // Protocol 2 stores bytes as their latin-1 decoding: each char is one byte.
                    let b: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
                    Ok(Value::Bytes(b.into()))
                }
                _ => self.new_obj(Obj::Call {
                    func: g.name(),
                    args,
                    state: None,
                }),
            },
            _ => self.new_obj(Obj::Call {
                func: g.name(),
                args,
                state: None,
            }),
        }
    }

    /// The `[key, value]` pairs `OrderedDict(iterable)` is given. The copied items count
    /// against [`MAX_VALUES`]: one list passed to many calls must not multiply memory.
    fn pairs_of(&mut self, v: &Value) -> Res<Vec<(Value, Value)>> {
        let n = match v {
            Value::Tuple(t) => t.len(),
            Value::Obj(i) => match &self.loaded.objs[*i] {
                Obj::List(l) => l.len(),
                Obj::Dict { items, .. } => items.len(),
                _ => 0,
            },
            _ => 0,
        };
        self.created = self.created.saturating_add(n);
        if self.created > MAX_VALUES {
            return Err(format!("pickle creates more than {MAX_VALUES} values"));
        }
        let items: Vec<Value> = match v {
            Value::Tuple(t) => t.to_vec(),
            Value::Obj(i) => match &self.loaded.objs[*i] {
                Obj::List(l) => l.clone(),
                Obj::Dict { items, .. } => return Ok(items.clone()),
                _ => return Err("OrderedDict of something that is not a list".into()),
            },
            _ => return Err("OrderedDict of something that is not a list".into()),
        };
        items
            .into_iter()
            .map(|p| {
                let two: Vec<Value> = match &p {
                    Value::Tuple(t) => t.to_vec(),
                    Value::Obj(i) => match &self.loaded.objs[*i] {
                        Obj::List(l) => l.clone(),
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                match <[Value; 2]>::try_from(two) {
                    Ok([k, v]) => Ok((k, v)),
                    Err(_) => Err("OrderedDict item is not a key/value pair".into()),
                }
            })
            .collect()
    }

    fn rebuild(&mut self, a: &[Value], dtype: Option<Result<DType, Rc<str>>>) -> Res<Value> {
        let storage = match a.first() {
            Some(&Value::Storage(s)) => s,
            _ => return Err("_rebuild_tensor of something that is not a storage".into()),
        };
        let offset = match a.get(1) {
            Some(&Value::Int(o)) if o >= 0 => o as u64,
            _ => return Err("tensor storage offset is not a non-negative integer".into()),
        };
        let size = ints(a.get(2)).ok_or("tensor size is not a tuple of non-negative integers")?;
        let stride =
            ints(a.get(3)).ok_or("tensor stride is not a tuple of non-negative integers")?;
        if size.len() != stride.len() {
            return Err(format!(
                "tensor size has {} dimensions, stride {}",
                size.len(),
                stride.len()
            ));
        }
        self.loaded.tensors.push(TensorRef {
            storage,
            dtype,
            offset,
            size,
            stride,
        });
        Ok(Value::Tensor(self.loaded.tensors.len() - 1))
    }

    /// `persistent_load(pid)` for storage ids; anything else is an opaque value.
    fn persistent(&mut self, pid: Value) -> Res<Value> {
        let Value::Tuple(t) = &pid else {
            return self.new_obj(Obj::Call {
                func: "persistent_load".into(),
                args: Value::Tuple(Rc::new([pid])),
                state: None,
            });
        };
        match t.first() {
            Some(Value::Str(s)) if &**s == "storage" => {}
            _ => {
                return self.new_obj(Obj::Call {
                    func: "persistent_load".into(),
                    args: pid.clone(),
                    state: None,
                })
            }
        }
        if t.len() != 5 && t.len() != 6 {
            return Err(format!(
                "storage persistent id has {} fields, expected 5 (zip) or 6 (legacy)",
                t.len()
            ));
        }
        let kind = match &t[1] {
            Value::Global(g) => match &**g {
                Global::Storage(k) => *k,
                other => return Err(format!("`{}` is not a storage class", other.name())),
            },
            _ => return Err("storage class is not a global".into()),
        };
        let key = match &t[2] {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            _ => return Err("storage key is not a string".into()),
        };
        let numel = match &t[4] {
            Value::Int(n) if *n >= 0 => *n as u64,
            _ => {
                return Err(format!(
                    "storage `{key}` size is not a non-negative integer"
                ))
            }
        };
        let view = match t.get(5) {
            None | Some(Value::None) => None,
            Some(Value::Tuple(v)) => match &v[..] {
                [Value::Str(k), Value::Int(o), Value::Int(n)] if *o >= 0 && *n >= 0 => {
                    Some((k.to_string(), *o as u64, *n as u64))
                }
                _ => return Err(format!("storage `{key}` has a malformed view")),
            },
            _ => return Err(format!("storage `{key}` has a malformed view")),
        };
        self.loaded.storages.push(StorageRef {
            kind,
            key,
            numel,
            view,
        });
        Ok(Value::Storage(self.loaded.storages.len() - 1))
    }
}

fn long(b: &[u8]) -> Value {
    if b.len() <= 8 {
        let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut a = [fill; 8];
        a[..b.len()].copy_from_slice(b);
        Value::Int(i64::from_le_bytes(a))
    } else {
        Value::BigInt(b.into())
    }
}

fn pairs(items: Vec<Value>) -> Res<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return Err("odd number of items for a dict".into());
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn ints(v: Option<&Value>) -> Option<Vec<u64>> {
    match v? {
        Value::Tuple(t) => t
            .iter()
            .map(|x| match x {
                Value::Int(i) if *i >= 0 => Some(*i as u64),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &[u8]) -> Result<(Value, Loaded), PickleError> {
        let mut l = Loaded::default();
        let (v, end) = load(p, 0, &mut l)?;
        assert_eq!(end, p.len());
        Ok((v, l))
    }

    #[test]
    fn plain_values() {
        // pickle.dumps({'a': [1, -2, 3.5, None, True], 'b': (b'x', 'é')}, protocol=2) by hand.
        let mut p = b"\x80\x02}q\x00(X\x01\x00\x00\x00a]q\x01(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00N\x88eX\x01\x00\x00\x00bC\x01x".to_vec();
        p.extend_from_slice(b"X\x02\x00\x00\x00\xc3\xa9\x86u.");
        let (v, l) = run(&p).unwrap();
        let Value::Obj(d) = v else { panic!() };
        let Obj::Dict { items, .. } = &l.objs[d] else {
            panic!()
        };
        assert_eq!(items.len(), 2);
        let Value::Obj(li) = items[0].1 else { panic!() };
        let Obj::List(list) = &l.objs[li] else {
            panic!()
        };
        assert!(
            matches!(list[..], [Value::Int(1), Value::Int(-2), Value::Float(f), Value::None, Value::Bool(true)] if f == 3.5)
        );
        let Value::Tuple(t) = &items[1].1 else {
            panic!()
        };
        assert!(matches!(&t[1], Value::Str(s) if &**s == "é"));
    }

    #[test]
    fn unknown_globals_are_recorded_not_called() {
        let p = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R.";
        let (v, l) = run(p).unwrap();
        let Value::Obj(i) = v else { panic!() };
        assert!(matches!(&l.objs[i], Obj::Call { func, .. } if func == "os.system"));
    }

    #[test]
    fn malformed_is_an_error_with_offset() {
        for (p, want) in [
            (&b"\x80\x02h\x05."[..], "never stored"),
            (b"\x80\x02X\xff\xff\xff\x00abc.", "past the end"),
            (b"\x80\x02.", "underflow"),
            (b"\x80\x02(K\x01.", "open mark"),
            (b"\x80\x02\x82\x01.", "extension"),
            (b"\x80\x06.", "protocol 6"),
            (b"\x80\x02K", "needs 1 bytes"),
            (b"\x80\x02\xff", "unsupported opcode 0xff"),
        ] {
            let e = run(p).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn long_values() {
        assert!(matches!(long(&[0xff]), Value::Int(-1)));
        assert!(matches!(long(&[0x80, 0x00]), Value::Int(128)));
        assert!(matches!(long(&[]), Value::Int(0)));
        assert!(matches!(long(&[1; 10]), Value::BigInt(_)));
    }
}
