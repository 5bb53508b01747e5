//! The pvattest exchange format, version 1.
//!
//! `pvattest create` writes a request (the ARCB and the sizes the guest must
//! reserve); `pvattest perform` in the guest adds the Ultravisor's answer
//! (measurement, additional data, user data, configuration unique id).
//!
//! Layout (big-endian; s390-tools `pvattest` `ExchangeFormatV1Hdr`):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0x00 | 8 | magic `pvattest` |
//! | 0x08 | 4 | version, 0x100 |
//! | 0x0c | 4 | total size |
//! | 0x10 | 8 | reserved |
//! | 0x18 | 8 | ARCB entry |
//! | 0x20 | 8 | measurement entry |
//! | 0x28 | 8 | additional-data entry |
//! | 0x30 | 8 | user-data entry |
//! | 0x38 | 8 | configuration-UID entry |
//! | 0x40 | … | data |
//!
//! An entry is size (4) and offset (4): size 0 means absent; offset 0 with a
//! size means "reserve this many bytes" (requests); otherwise the data is at
//! that offset. Writing lays the data out in entry order after the header.

use super::bytes::{be_u32, slice};
use crate::{Error, Result};

const WHAT: &str = "pvattest exchange";
/// Magic at the start of an exchange file: ASCII `pvattest`.
pub const EXCHANGE_MAGIC: [u8; 8] = *b"pvattest";
/// Version 1.
pub const EXCHANGE_VERSION_1: u32 = 0x100;
const HEADER_SIZE: usize = 0x40;
/// Largest measurement (`UVIO_ATT_MEASUREMENT_MAX_LEN`).
pub const MAX_MEASUREMENT_SIZE: usize = 0x8000;
/// Largest additional data (`UVIO_ATT_ADDITIONAL_MAX_LEN`).
pub const MAX_ADDITIONAL_SIZE: usize = 0x8000;
/// Largest user data (`UVIO_ATT_USER_DATA_LEN`).
pub const MAX_USER_DATA_SIZE: usize = 0x100;
/// Size of the configuration unique id.
pub const CUID_SIZE: usize = 16;

/// One entry of an exchange file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeItem {
    /// Not present (size 0).
    Absent,
    /// Only a size: the space the guest must reserve.
    Size(u32),
    /// The data.
    Data(Vec<u8>),
}

impl ExchangeItem {
    /// The data, if present.
    pub fn data(&self) -> Option<&[u8]> {
        match self {
            ExchangeItem::Data(d) => Some(d),
            _ => None,
        }
    }

    /// The size the entry declares.
    pub fn size(&self) -> usize {
        match self {
            ExchangeItem::Absent => 0,
            ExchangeItem::Size(s) => *s as usize,
            ExchangeItem::Data(d) => d.len(),
        }
    }
}

/// A parsed exchange file: a request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The attestation request control block (always present).
    pub arcb: Vec<u8>,
    /// Measurement: a size in requests, the data in responses.
    pub measurement: ExchangeItem,
    /// Additional data: a size in requests, the data in responses.
    pub additional: ExchangeItem,
    /// User data (responses only).
    pub user_data: ExchangeItem,
    /// Configuration unique id (responses only).
    pub config_uid: ExchangeItem,
}

/// The Ultravisor's answer to an attestation request, from an exchange file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeResponse {
    /// The attestation request control block.
    pub arcb: Vec<u8>,
    /// The measurement (HMAC).
    pub measurement: Vec<u8>,
    /// Additional data, if requested.
    pub additional: Option<Vec<u8>>,
    /// User data given to the Ultravisor, if any.
    pub user_data: Option<Vec<u8>>,
    /// Configuration unique id of the guest.
    pub config_uid: [u8; CUID_SIZE],
}

fn read_entry(bytes: &[u8], at: usize, name: &'static str, max: usize) -> Result<ExchangeItem> {
    let size = be_u32(bytes, at, WHAT)? as usize;
    let offset = be_u32(bytes, at + 4, WHAT)? as usize;
    if size > max {
        return Err(Error::malformed(WHAT, at, format!("{name} is {size} bytes, more than the limit of {max}")));
    }
    if size == 0 {
        return Ok(ExchangeItem::Absent);
    }
    if offset == 0 {
        return Ok(ExchangeItem::Size(size as u32));
    }
    if offset < HEADER_SIZE {
        return Err(Error::malformed(WHAT, at + 4, format!("{name} offset {offset:#x} points into the header")));
    }
    let data = slice(bytes, offset, size, WHAT).map_err(|_| {
        Error::malformed(
            WHAT,
            at,
            format!("{name} ({size} bytes at {offset:#x}) lies outside the {} input bytes", bytes.len()),
        )
    })?;
    Ok(ExchangeItem::Data(data.to_vec()))
}

/// Parse an exchange file (request or response).
pub fn parse_exchange(bytes: &[u8]) -> Result<Exchange> {
    let max_total = HEADER_SIZE
        + super::arcb::MAX_ARCB_SIZE
        + MAX_MEASUREMENT_SIZE
        + MAX_ADDITIONAL_SIZE
        + MAX_USER_DATA_SIZE
        + CUID_SIZE;
    if bytes.len() > max_total {
        return Err(Error::TooLarge { what: "pvattest exchange", found: bytes.len(), limit: max_total });
    }
    let magic = slice(bytes, 0, 8, WHAT)?;
    if magic != EXCHANGE_MAGIC {
        return Err(Error::malformed(WHAT, 0, format!("expected magic \"pvattest\", found {}", hex::encode(magic))));
    }
    let version = be_u32(bytes, 0x08, WHAT)?;
    if version != EXCHANGE_VERSION_1 {
        return Err(Error::Unsupported { what: "pvattest exchange version", found: format!("{version:#x}") });
    }
    let size = be_u32(bytes, 0x0c, WHAT)? as usize;
    if size < HEADER_SIZE || size > bytes.len() {
        return Err(Error::malformed(
            WHAT,
            0x0c,
            format!("declared size {size} is not between the header size 64 and the input size {}", bytes.len()),
        ));
    }
    slice(bytes, 0, HEADER_SIZE, WHAT)?;
    let arcb = match read_entry(bytes, 0x18, "ARCB", super::arcb::MAX_ARCB_SIZE)? {
        ExchangeItem::Data(d) => d,
        _ => return Err(Error::malformed(WHAT, 0x18, "contains no attestation request")),
    };
    let measurement = read_entry(bytes, 0x20, "measurement", MAX_MEASUREMENT_SIZE)?;
    if matches!(measurement, ExchangeItem::Absent) {
        return Err(Error::malformed(WHAT, 0x20, "no measurement size or measurement"));
    }
    Ok(Exchange {
        arcb,
        measurement,
        additional: read_entry(bytes, 0x28, "additional data", MAX_ADDITIONAL_SIZE)?,
        user_data: read_entry(bytes, 0x30, "user data", MAX_USER_DATA_SIZE)?,
        config_uid: read_entry(bytes, 0x38, "configuration UID", CUID_SIZE)?,
    })
}

/// Parse an exchange file that must be a response.
pub fn parse_exchange_response(bytes: &[u8]) -> Result<ExchangeResponse> {
    parse_exchange(bytes)?.into_response()
}

impl Exchange {
    /// The response this exchange holds; fails for requests.
    pub fn into_response(self) -> Result<ExchangeResponse> {
        let measurement = match self.measurement {
            ExchangeItem::Data(d) => d,
            _ => return Err(Error::malformed(WHAT, 0x20, "contains no attestation response (measurement missing)")),
        };
        let config_uid = match &self.config_uid {
            ExchangeItem::Data(d) => <[u8; CUID_SIZE]>::try_from(d.as_slice()).map_err(|_| {
                Error::malformed(WHAT, 0x38, format!("configuration UID is {} bytes, expected 16", d.len()))
            })?,
            _ => {
                return Err(Error::malformed(
                    WHAT,
                    0x38,
                    "contains no attestation response (configuration UID missing)",
                ))
            }
        };
        let data_only = |item: ExchangeItem, at: usize, name: &str| match item {
            ExchangeItem::Absent => Ok(None),
            ExchangeItem::Data(d) => Ok(Some(d)),
            ExchangeItem::Size(_) => Err(Error::malformed(WHAT, at, format!("{name} has a size but no data"))),
        };
        Ok(ExchangeResponse {
            arcb: self.arcb,
            measurement,
            additional: data_only(self.additional, 0x28, "additional data")?,
            user_data: data_only(self.user_data, 0x30, "user data")?,
            config_uid,
        })
    }

    /// Serialise in the version-1 layout, data in entry order after the header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let items = [
            ExchangeItem::Data(self.arcb.clone()),
            self.measurement.clone(),
            self.additional.clone(),
            self.user_data.clone(),
            self.config_uid.clone(),
        ];
        let mut entries = Vec::with_capacity(HEADER_SIZE - 0x18);
        let mut data = Vec::new();
        for item in &items {
            let (size, offset) = match item {
                ExchangeItem::Absent => (0, 0),
                ExchangeItem::Size(s) => (*s, 0),
                ExchangeItem::Data(d) => {
                    let at = HEADER_SIZE + data.len();
                    data.extend_from_slice(d);
                    (d.len() as u32, at as u32)
                }
            };
            entries.extend_from_slice(&size.to_be_bytes());
            entries.extend_from_slice(&offset.to_be_bytes());
        }
        let mut out = Vec::with_capacity(HEADER_SIZE + data.len());
        out.extend_from_slice(&EXCHANGE_MAGIC);
        out.extend_from_slice(&EXCHANGE_VERSION_1.to_be_bytes());
        out.extend_from_slice(&((HEADER_SIZE + data.len()) as u32).to_be_bytes());
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(&entries);
        out.extend_from_slice(&data);
        out
    }
}

impl ExchangeResponse {
    /// Serialise as an exchange file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let opt = |o: &Option<Vec<u8>>| o.clone().map_or(ExchangeItem::Absent, ExchangeItem::Data);
        Exchange {
            arcb: self.arcb.clone(),
            measurement: ExchangeItem::Data(self.measurement.clone()),
            additional: opt(&self.additional),
            user_data: opt(&self.user_data),
            config_uid: ExchangeItem::Data(self.config_uid.to_vec()),
        }
        .to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::read_vector;

    fn file(name: &str) -> Vec<u8> {
        read_vector(&format!("attestation/se/exchange/{name}.bin"))
    }

    fn request(additional: u32) -> Exchange {
        Exchange {
            arcb: vec![0x11; 16],
            measurement: ExchangeItem::Size(64),
            additional: if additional == 0 { ExchangeItem::Absent } else { ExchangeItem::Size(additional) },
            user_data: ExchangeItem::Absent,
            config_uid: ExchangeItem::Absent,
        }
    }

    fn response(additional: bool, user: bool) -> ExchangeResponse {
        ExchangeResponse {
            arcb: vec![0x11; 16],
            measurement: vec![0x12; 64],
            additional: additional.then(|| vec![0x13; 32]),
            user_data: user.then(|| vec![0x15; 256]),
            config_uid: [0x14; 16],
        }
    }

    #[test]
    fn requests_round_trip_byte_exactly() {
        for (name, additional) in [("full_req", 32), ("add_req", 32), ("min_req", 0)] {
            let bytes = file(name);
            let parsed = parse_exchange(&bytes).unwrap();
            assert_eq!(parsed, request(additional), "{name}");
            assert_eq!(parsed.to_bytes(), bytes, "{name}");
            assert_eq!(request(additional).to_bytes(), bytes, "{name}");
        }
    }

    #[test]
    fn responses_round_trip_byte_exactly() {
        for (name, additional, user) in [
            ("full_resp", true, true),
            ("add_resp", true, false),
            ("user_resp", false, true),
            ("min_resp", false, false),
        ] {
            let bytes = file(name);
            let parsed = parse_exchange_response(&bytes).unwrap();
            assert_eq!(parsed, response(additional, user), "{name}");
            assert_eq!(parsed.to_bytes(), bytes, "{name}");
            assert_eq!(parse_exchange(&bytes).unwrap().to_bytes(), bytes, "{name}");
        }
    }

    #[test]
    fn request_is_not_a_response() {
        let err = parse_exchange_response(&file("min_req")).unwrap_err();
        assert!(matches!(err, Error::Malformed { offset: 0x20, .. }), "{err}");
        // A request with the measurement filled in still lacks the CUID.
        let mut ex = parse_exchange(&file("min_req")).unwrap();
        ex.measurement = ExchangeItem::Data(vec![1; 64]);
        let err = ex.into_response().unwrap_err();
        assert!(matches!(err, Error::Malformed { offset: 0x38, .. }), "{err}");
    }

    #[test]
    fn malformed_exchange_files_are_rejected() {
        let mut magic = file("min_req");
        magic[0] ^= 0xff;
        assert!(matches!(parse_exchange(&magic), Err(Error::Malformed { offset: 0, .. })));
        let mut no_arcb = file("min_req");
        no_arcb[0x18..0x20].fill(0);
        assert!(matches!(parse_exchange(&no_arcb), Err(Error::Malformed { offset: 0x18, .. })));
        let short = file("min_req");
        assert!(matches!(parse_exchange(&short[..short.len() - 1]), Err(Error::Malformed { offset: 0x0c, .. })));
        assert!(parse_exchange(b"pvattest\x01\x02\x03\x04").is_err());
        let mut version = file("min_req");
        version[8] = 0xff;
        assert!(matches!(parse_exchange(&version), Err(Error::Unsupported { .. })));
        let mut cuid = file("min_resp");
        cuid[0x3b] = 0x0f;
        assert!(parse_exchange_response(&cuid).is_err());
        let mut into_header = file("min_resp");
        into_header[0x24..0x28].copy_from_slice(&8u32.to_be_bytes());
        assert!(matches!(parse_exchange(&into_header), Err(Error::Malformed { offset: 0x24, .. })));
        let mut big_user = file("user_resp");
        big_user[0x30..0x34].copy_from_slice(&0x101u32.to_be_bytes());
        assert!(matches!(parse_exchange(&big_user), Err(Error::Malformed { offset: 0x30, .. })));
    }
}
