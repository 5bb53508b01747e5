//! A minimal flattened-devicetree writer for tests: the nodes a VMM writes
//! that `arca-measure` reads back (root cells, /chosen, /memory, /cpus).

#![allow(dead_code)]

/// What the DTB describes.
pub struct DtbSpec<'a> {
    pub ram: (u64, u64),
    pub cpus: u32,
    pub bootargs: Option<&'a str>,
    pub initrd: Option<(u64, u64)>,
}

struct Writer {
    structs: Vec<u8>,
    strings: Vec<u8>,
}

impl Writer {
    fn token(&mut self, t: u32) {
        self.structs.extend_from_slice(&t.to_be_bytes());
    }
    fn begin(&mut self, name: &str) {
        self.token(1);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }
    fn end(&mut self) {
        self.token(2);
    }
    fn prop(&mut self, name: &str, value: &[u8]) {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.token(3);
        self.structs.extend_from_slice(&(value.len() as u32).to_be_bytes());
        self.structs.extend_from_slice(&off.to_be_bytes());
        self.structs.extend_from_slice(value);
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }
    fn prop_u32(&mut self, name: &str, v: u32) {
        self.prop(name, &v.to_be_bytes());
    }
    fn prop_str(&mut self, name: &str, v: &str) {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        self.prop(name, &b);
    }
}

/// Build the DTB.
pub fn build(spec: &DtbSpec<'_>) -> Vec<u8> {
    let mut w = Writer { structs: Vec::new(), strings: Vec::new() };
    w.begin("");
    w.prop_u32("#address-cells", 2);
    w.prop_u32("#size-cells", 2);
    w.begin("chosen");
    if let Some(b) = spec.bootargs {
        w.prop_str("bootargs", b);
    }
    if let Some((s, e)) = spec.initrd {
        w.prop("linux,initrd-start", &s.to_be_bytes());
        w.prop("linux,initrd-end", &e.to_be_bytes());
    }
    w.end();
    w.begin(&format!("memory@{:x}", spec.ram.0));
    w.prop_str("device_type", "memory");
    let mut reg = spec.ram.0.to_be_bytes().to_vec();
    reg.extend_from_slice(&spec.ram.1.to_be_bytes());
    w.prop("reg", &reg);
    w.end();
    w.begin("cpus");
    w.prop_u32("#address-cells", 1);
    w.prop_u32("#size-cells", 0);
    for i in 0..spec.cpus {
        w.begin(&format!("cpu@{i}"));
        w.prop_str("device_type", "cpu");
        w.prop_u32("reg", i);
        w.end();
    }
    w.end();
    w.end();
    w.token(9);

    let rsvmap = [0u8; 16];
    let off_rsvmap = 40u32;
    let off_struct = off_rsvmap + rsvmap.len() as u32;
    let off_strings = off_struct + w.structs.len() as u32;
    let total = off_strings + w.strings.len() as u32;
    let mut out = Vec::with_capacity(total as usize);
    for v in [
        0xd00d_feed,
        total,
        off_struct,
        off_strings,
        off_rsvmap,
        17,
        16,
        0,
        w.strings.len() as u32,
        w.structs.len() as u32,
    ] {
        out.extend_from_slice(&u32::to_be_bytes(v));
    }
    out.extend_from_slice(&rsvmap);
    out.extend_from_slice(&w.structs);
    out.extend_from_slice(&w.strings);
    out
}
