//! `modeldiff.open(path) -> Model` and the numpy arrays it hands out.
//!
//! Arrays are made with numpy's `__array_interface__` protocol: a [`TensorBuffer`] describes
//! memory it keeps alive (an address, a shape, a `typestr`), and `numpy.asarray` wraps it
//! without copying, with the buffer as the array's `base`. `m[name]` decodes into an owned
//! `f32` buffer (writable); `m.raw(name)` points into the model's own bytes (the file's map for
//! SafeTensors and GGUF), read-only, and the buffer holds the `Model` so the map outlives every
//! array made from it. The protocol needs no numpy C API, which keeps the module on the stable
//! ABI (`abi3`).

use std::path::PathBuf;
use std::sync::Arc;

use modeldiff_formats::{ByteOrder, DType, MetaValue};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::Failure;

/// An open model (`modeldiff.open`): its tensors by name, as numpy arrays.
#[pyclass(module = "modeldiff._native", frozen)]
pub(crate) struct Model {
    inner: Arc<modeldiff_formats::Model>,
}

/// Opens a model file (any format `modeldiff` reads) and keeps it open.
#[pyfunction]
#[pyo3(signature = (path, *, no_verify=false))]
pub(crate) fn open(py: Python<'_>, path: PathBuf, no_verify: bool) -> PyResult<Model> {
    let options = crate::config::open_options(no_verify);
    let inner = crate::run::interruptible(py, move |_| {
        modeldiff_formats::open_with(&path, &options)
            .map_err(|e| Failure::format("cannot read model", e))
    })?;
    Ok(Model {
        inner: Arc::new(inner),
    })
}

impl Model {
    fn index(&self, name: &str) -> PyResult<usize> {
        self.inner.find(name).ok_or_else(|| {
            PyKeyError::new_err(format!(
                "{}: no tensor named `{name}`",
                self.inner.path().display()
            ))
        })
    }
}

#[pymethods]
impl Model {
    fn __len__(&self) -> usize {
        self.inner.tensors().len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.inner.find(name).is_some()
    }

    fn __repr__(&self) -> String {
        format!(
            "<modeldiff.Model {} ({}, {} tensors)>",
            self.inner.path().display(),
            self.inner.format().name(),
            self.inner.tensors().len()
        )
    }

    /// Tensor names in file order.
    fn names(&self) -> Vec<String> {
        self.inner
            .tensors()
            .iter()
            .map(|t| t.name.clone())
            .collect()
    }

    /// The file's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }

    /// The detected format (`safetensors`, `gguf`, ...).
    #[getter]
    fn format(&self) -> &'static str {
        self.inner.format().name()
    }

    /// The stored dtype of a tensor as the reports name it (`F32`, `BF16`, `Q4_K`, ...).
    fn dtype(&self, name: &str) -> PyResult<String> {
        Ok(self.inner.tensors()[self.index(name)?].dtype.name())
    }

    /// The row-major shape of a tensor.
    fn shape<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.tensors()[self.index(name)?].shape)
    }

    /// Metadata in file order as a dict (GGUF key-values, SafeTensors `__metadata__`, ...).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let map: serde_json::Map<String, serde_json::Value> = self
            .inner
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), meta_json(v)))
            .collect();
        let text = serde_json::Value::Object(map).to_string();
        py.import("json")?.call_method1("loads", (text,))
    }

    /// The tensor decoded to float32 (any dtype, quantized ones dequantized), in its shape.
    fn __getitem__(slf: &Bound<'_, Self>, name: &str) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let index = this.index(name)?;
        let model = Arc::clone(&this.inner);
        let values = crate::run::interruptible(py, move |_| {
            let n = model.tensors()[index].elements() as usize;
            let mut out = vec![0f32; n];
            model
                .check_decodable(index)
                .and_then(|()| model.decode_f32(index, 0..n, &mut out))
                .map_err(|e| Failure::format("cannot decode", e))?;
            Ok(out.into_boxed_slice())
        })?;
        let shape = dims(&this.inner.tensors()[index].shape);
        let ptr = values.as_ptr() as usize;
        let buffer = TensorBuffer {
            owner: Owner::Decoded { _values: values },
            ptr,
            shape,
            typestr: "<f4".to_string(),
            readonly: false,
        };
        to_numpy(py, buffer)
    }

    /// The stored bytes of a tensor as a numpy array of the stored dtype, without a copy where
    /// the bytes are aligned for it; see the Python docs of `Model.raw`.
    fn raw(slf: &Bound<'_, Self>, name: &str) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let index = this.index(name)?;
        let t = &this.inner.tensors()[index];
        let bytes = this.inner.tensor_bytes(index);
        let ptr = bytes.as_ptr() as usize;
        let (typestr, shape) = match plain_typestr(t.dtype, t.byte_order) {
            Some((ts, size))
                if t.strides().is_none()
                    && (t.elements() as usize).checked_mul(size) == Some(bytes.len()) =>
            {
                (ts, dims(&t.shape))
            }
            _ => ("|u1".to_string(), vec![bytes.len()]),
        };
        let size: usize = typestr[2..].parse().unwrap_or(1);
        let aligned = ptr.is_multiple_of(size);
        let buffer = TensorBuffer {
            owner: Owner::Mapped(slf.clone().unbind()),
            ptr,
            shape,
            typestr,
            readonly: true,
        };
        let array = to_numpy(py, buffer)?;
        if aligned {
            Ok(array)
        } else {
            // numpy reads unaligned memory slowly and some libraries refuse it: copy once.
            Ok(array.call_method0(py, "copy")?)
        }
    }
}

/// Memory a numpy array views, kept alive by the array (its `base`).
#[pyclass(module = "modeldiff._native", frozen)]
pub(crate) struct TensorBuffer {
    owner: Owner,
    ptr: usize,
    shape: Vec<usize>,
    typestr: String,
    readonly: bool,
}

/// What a [`TensorBuffer`] keeps alive.
enum Owner {
    /// The model whose bytes (the file's map, or its owned buffer) the array views.
    Mapped(Py<Model>),
    /// Decoded values owned by the buffer.
    Decoded {
        /// Never read from Rust: numpy reads (and may write) them through the address.
        _values: Box<[f32]>,
    },
}

#[pymethods]
impl TensorBuffer {
    /// numpy's array interface (version 3): address, shape, element type, read-only flag.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", PyTuple::new(py, &self.shape)?)?;
        d.set_item("typestr", &self.typestr)?;
        d.set_item("data", (self.ptr, self.readonly))?;
        Ok(d)
    }

    /// The model whose stored bytes this buffer views (`None` for decoded values).
    #[getter]
    fn model(&self, py: Python<'_>) -> Option<Py<Model>> {
        match &self.owner {
            Owner::Mapped(m) => Some(m.clone_ref(py)),
            Owner::Decoded { .. } => None,
        }
    }

    /// Whether this buffer views the model's stored bytes in place (no copy).
    #[getter]
    fn is_mapped(&self) -> bool {
        matches!(self.owner, Owner::Mapped(_))
    }
}

fn to_numpy(py: Python<'_>, buffer: TensorBuffer) -> PyResult<Py<PyAny>> {
    let numpy = py.import("numpy")?;
    let buffer = Bound::new(py, buffer)?;
    Ok(numpy.call_method1("asarray", (buffer,))?.unbind())
}

fn dims(shape: &[u64]) -> Vec<usize> {
    shape.iter().map(|&d| d as usize).collect()
}

/// numpy's `typestr` and item size of a dtype stored as plain scalars (BF16 as `uint16`: numpy
/// has no bfloat16; view it with `ml_dtypes.bfloat16`), or `None` for block and opaque types.
fn plain_typestr(dtype: DType, order: ByteOrder) -> Option<(String, usize)> {
    let (kind, size) = match dtype {
        DType::F64 => ('f', 8),
        DType::F32 => ('f', 4),
        DType::F16 => ('f', 2),
        DType::BF16 => ('u', 2),
        DType::I8 => ('i', 1),
        DType::I16 => ('i', 2),
        DType::I32 => ('i', 4),
        DType::I64 => ('i', 8),
        DType::U8 => ('u', 1),
        DType::U16 => ('u', 2),
        DType::U32 => ('u', 4),
        DType::U64 => ('u', 8),
        DType::Bool => ('b', 1),
        _ => return None,
    };
    let endian = if size == 1 {
        '|'
    } else if order == ByteOrder::Big {
        '>'
    } else {
        '<'
    };
    Some((format!("{endian}{kind}{size}"), size))
}

/// A metadata value as JSON (NaN and ±inf become `null`, as in the JSON reports).
fn meta_json(v: &MetaValue) -> serde_json::Value {
    use serde_json::Value;
    match v {
        MetaValue::UInt(u) => Value::from(*u),
        MetaValue::Int(i) => Value::from(*i),
        MetaValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        MetaValue::Bool(b) => Value::Bool(*b),
        MetaValue::Str(s) => Value::String(s.clone()),
        MetaValue::Array(a) => Value::Array(a.iter().map(meta_json).collect()),
        MetaValue::Json(j) => j.clone(),
        _ => Value::Null,
    }
}
