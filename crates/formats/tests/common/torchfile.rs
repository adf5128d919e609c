//! A tiny pickle writer and zip writer for building PyTorch checkpoints (valid and hostile) at
//! test time. Shared by `crates/formats/tests/torch.rs` and `crates/cli/tests/torch.rs`.
#![allow(dead_code)]

/// Pickle opcodes, written one by one (protocol 2).
#[derive(Default)]
pub struct Pickle(pub Vec<u8>);

impl Pickle {
    pub fn new() -> Pickle {
        Pickle(vec![0x80, 2])
    }
    pub fn op(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.0.push(b'c');
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend((s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    pub fn int(&mut self, i: i32) -> &mut Self {
        self.0.push(b'J');
        self.0.extend(i.to_le_bytes());
        self
    }
    pub fn mark(&mut self) -> &mut Self {
        self.op(b"(")
    }
    pub fn tuple(&mut self) -> &mut Self {
        self.op(b"t")
    }
    pub fn empty_tuple(&mut self) -> &mut Self {
        self.op(b")")
    }
    pub fn empty_dict(&mut self) -> &mut Self {
        self.op(b"}")
    }
    pub fn setitems(&mut self) -> &mut Self {
        self.op(b"u")
    }
    pub fn reduce(&mut self) -> &mut Self {
        self.op(b"R")
    }
    pub fn stop(&mut self) -> Vec<u8> {
        self.0.push(b'.');
        std::mem::take(&mut self.0)
    }
    pub fn ints(&mut self, v: &[i32]) -> &mut Self {
        self.mark();
        for &i in v {
            self.int(i);
        }
        self.tuple()
    }
    /// `_rebuild_tensor_v2(storage(class, key, numel), offset, size, stride, False, OrderedDict())`.
    pub fn tensor(
        &mut self,
        class: &str,
        key: &str,
        numel: i32,
        offset: i32,
        size: &[i32],
        stride: &[i32],
    ) -> &mut Self {
        self.global("torch._utils", "_rebuild_tensor_v2").mark();
        self.mark()
            .str("storage")
            .global("torch", class)
            .str(key)
            .str("cpu")
            .int(numel)
            .tuple()
            .op(b"Q");
        self.int(offset).ints(size).ints(stride).op(b"\x89");
        self.global("collections", "OrderedDict")
            .empty_tuple()
            .reduce();
        self.tuple().reduce()
    }
}

/// A state dict pickle `{name: tensor}` of F32 tensors over storages `"0"`, `"1"`, ...
pub fn state_dict(tensors: &[(&str, i32, &[i32])]) -> Vec<u8> {
    state_dict_of("FloatStorage", tensors)
}

/// [`state_dict`] with storages of class `torch.<class>`.
pub fn state_dict_of(class: &str, tensors: &[(&str, i32, &[i32])]) -> Vec<u8> {
    let mut p = Pickle::new();
    p.empty_dict().mark();
    for (i, (name, numel, size)) in tensors.iter().enumerate() {
        let stride = contiguous(size);
        p.str(name)
            .tensor(class, &i.to_string(), *numel, 0, size, &stride);
    }
    p.setitems().stop()
}

pub fn contiguous(size: &[i32]) -> Vec<i32> {
    let mut s = vec![1; size.len()];
    for i in (0..size.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * size[i + 1];
    }
    s
}

/// One entry for [`zip`]: name, bytes as stored, and how it is stored.
pub struct ZipEntry<'a> {
    pub name: &'a str,
    pub data: Vec<u8>,
    /// Deflated: `data` is a raw deflate stream and `size`/`crc` are declared as given.
    pub deflated: Option<(u64, u32)>,
}

impl<'a> ZipEntry<'a> {
    pub fn stored(name: &'a str, data: impl Into<Vec<u8>>) -> ZipEntry<'a> {
        ZipEntry {
            name,
            data: data.into(),
            deflated: None,
        }
    }
}

/// A minimal zip archive (no zip64, no data descriptors), data 64-byte aligned like torch's.
pub fn zip(entries: &[ZipEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let (method, size, crc) = match e.deflated {
            None => (0u16, e.data.len() as u32, crc32(&e.data)),
            Some((size, crc)) => (8u16, size as u32, crc),
        };
        let name = e.name.as_bytes();
        let start = out.len() + 30 + name.len() + 4;
        let pad = (64 - start % 64) % 64;
        let mut extra = vec![0x46, 0x42];
        extra.extend((pad as u16).to_le_bytes());
        extra.extend(std::iter::repeat_n(b'Z', pad));
        let header = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(sig.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes());
            }
            h.extend(20u16.to_le_bytes()); // version needed
            h.extend(0u16.to_le_bytes()); // flags
            h.extend(method.to_le_bytes());
            h.extend(0u32.to_le_bytes()); // time, date
            h.extend(crc.to_le_bytes());
            h.extend((e.data.len() as u32).to_le_bytes());
            h.extend(size.to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend((if central { 0 } else { extra.len() } as u16).to_le_bytes());
            if central {
                h.extend([0u8; 6]); // comment len, disk, internal attrs
                h.extend(0u32.to_le_bytes()); // external attrs
                h.extend(offset.to_le_bytes());
            }
            h.extend_from_slice(name);
            if !central {
                h.extend_from_slice(&extra);
            }
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend_from_slice(&e.data);
        central.extend(header(0x0201_4b50, true));
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// A PyTorch zip checkpoint: `archive/data.pkl`, `archive/byteorder` and the given storages.
pub fn checkpoint(pickle: &[u8], storages: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let names: Vec<String> = storages
        .iter()
        .map(|(k, _)| format!("archive/data/{k}"))
        .collect();
    let mut entries = vec![
        ZipEntry::stored("archive/data.pkl", pickle),
        ZipEntry::stored("archive/byteorder", b"little".to_vec()),
    ];
    for ((_, data), name) in storages.iter().zip(&names) {
        entries.push(ZipEntry::stored(name, data.clone()));
    }
    zip(&entries)
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), one table lookup per byte.
pub fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
        *slot = c;
    }
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}
