//! TDX CC event log (the data of the ACPI CCEL table) and its replay into RTMRs.
//!
//! Format: TCG PC Client Platform Firmware Profile, crypto-agile log. The
//! first record is a `TCG_PCClientPCREvent` (SHA-1 layout) carrying the
//! `TCG_EfiSpecIdEvent` ("Spec ID Event03") that lists the digest algorithms
//! and sizes; every later record is a `TCG_PCR_EVENT2`. The table is padded
//! with 0xFF after the last record. For TDX the record's index is a CC
//! measurement register: 0 = MRTD, 1..4 = RTMR0..3 (UEFI spec, "EFI CC
//! Measurement Protocol").

use serde::Serialize;
use sha2::{Digest, Sha384};

use super::quote::Reader;
use crate::{Error, Result};

/// Largest event log accepted, in bytes (CCEL tables are at most a few MiB).
pub const MAX_EVENT_LOG_SIZE: usize = 8 << 20;
/// Most events accepted.
const MAX_EVENTS: usize = 100_000;
/// Most digest algorithms in the Spec ID event.
const MAX_ALGORITHMS: u32 = 16;
/// Largest single event body.
const MAX_EVENT_SIZE: usize = 1 << 20;

const WHAT: &str = "CC event log";
/// Event type EV_NO_ACTION: not extended into any register.
pub const EV_NO_ACTION: u32 = 0x0000_0003;
/// TPM_ALG_SHA384.
const TPM_ALG_SHA384: u16 = 0x000c;

/// One `TCG_PCR_EVENT2` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// CC measurement register index (1..4 = RTMR0..3).
    pub index: u32,
    /// Event type.
    pub event_type: u32,
    /// Digests by TPM algorithm id.
    pub digests: Vec<(u16, Vec<u8>)>,
    /// Event data.
    pub data: Vec<u8>,
}

impl Event {
    /// The SHA-384 digest of this event, if recorded.
    pub fn sha384(&self) -> Option<&[u8]> {
        self.digests.iter().find(|(alg, _)| *alg == TPM_ALG_SHA384).map(|(_, d)| d.as_slice())
    }
}

/// A parsed CC event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// Digest algorithms and sizes from the Spec ID event.
    pub algorithms: Vec<(u16, u16)>,
    /// The `TCG_PCR_EVENT2` records, in order.
    pub events: Vec<Event>,
}

/// RTMR values obtained by replaying a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replay {
    /// RTMR0..3, hex.
    pub rtmr: [String; 4],
    /// Number of events in the log (all `TCG_PCR_EVENT2` records, EV_NO_ACTION included).
    pub event_count: usize,
}

/// Parse the Spec ID event's content (TCG PFP, "TCG_EfiSpecIdEvent").
fn parse_spec_id(data: &[u8]) -> Result<Vec<(u16, u16)>> {
    let mut r = Reader::new(data, "Spec ID event");
    let signature = r.take(16, "signature")?;
    if signature != b"Spec ID Event03\0" {
        return Err(Error::malformed("Spec ID event", 0, "signature is not \"Spec ID Event03\""));
    }
    r.take(4 + 4, "platform class, versions, uintn size")?;
    let count = r.u32("number of algorithms")?;
    if count == 0 || count > MAX_ALGORITHMS {
        return Err(Error::malformed("Spec ID event", r.pos(), format!("{count} algorithms (1..={MAX_ALGORITHMS})")));
    }
    let mut algs = Vec::new();
    for _ in 0..count {
        algs.push((r.u16("algorithm id")?, r.u16("digest size")?));
    }
    Ok(algs)
}

/// Parse a CC event log (CCEL table data).
pub fn parse_event_log(bytes: &[u8]) -> Result<EventLog> {
    if bytes.len() > MAX_EVENT_LOG_SIZE {
        return Err(Error::TooLarge { what: "CC event log", found: bytes.len(), limit: MAX_EVENT_LOG_SIZE });
    }
    let mut r = Reader::new(bytes, WHAT);
    // First record: TCG_PCClientPCREvent with a SHA-1 digest.
    r.u32("first event index")?;
    let first_type = r.u32("first event type")?;
    if first_type != EV_NO_ACTION {
        return Err(Error::malformed(WHAT, 4, format!("first event type {first_type:#x} is not EV_NO_ACTION")));
    }
    r.take(20, "first event SHA-1 digest")?;
    let size = r.u32("first event size")? as usize;
    let algorithms = parse_spec_id(r.take(size, "Spec ID event")?)?;

    let mut events = Vec::new();
    while r.remaining() >= 8 {
        let start = r.pos();
        let index = r.u32("event index")?;
        let event_type = r.u32("event type")?;
        if index == u32::MAX || (index == 0 && event_type == 0) {
            // 0xFF padding (or zero fill) after the last record.
            break;
        }
        if events.len() >= MAX_EVENTS {
            return Err(Error::TooLarge { what: "CC event log events", found: events.len() + 1, limit: MAX_EVENTS });
        }
        let count = r.u32("digest count")?;
        if count > MAX_ALGORITHMS {
            return Err(Error::malformed(WHAT, start, format!("{count} digests in one event")));
        }
        let mut digests = Vec::new();
        for _ in 0..count {
            let alg = r.u16("digest algorithm")?;
            let size = algorithms.iter().find(|(id, _)| *id == alg).map(|(_, s)| *s).ok_or_else(|| {
                Error::malformed(WHAT, r.pos() - 2, format!("digest algorithm {alg:#06x} not in the Spec ID event"))
            })?;
            digests.push((alg, r.take(size as usize, "digest")?.to_vec()));
        }
        let size = r.u32("event size")? as usize;
        if size > MAX_EVENT_SIZE {
            return Err(Error::TooLarge { what: "CC event", found: size, limit: MAX_EVENT_SIZE });
        }
        let data = r.take(size, "event data")?.to_vec();
        events.push(Event { index, event_type, digests, data });
    }
    Ok(EventLog { algorithms, events })
}

impl EventLog {
    /// Replay the SHA-384 digests into RTMR0..3: for each event that is not
    /// EV_NO_ACTION and whose index is 1..4, `RTMR[i-1] = SHA-384(RTMR[i-1] ‖ digest)`.
    pub fn replay(&self) -> Result<[[u8; 48]; 4]> {
        let mut rtmr = [[0u8; 48]; 4];
        for (n, event) in self.events.iter().enumerate() {
            if event.event_type == EV_NO_ACTION {
                continue;
            }
            let Some(slot) = event.index.checked_sub(1).and_then(|i| rtmr.get_mut(i as usize)) else {
                continue;
            };
            let digest = event.sha384().filter(|d| d.len() == 48).ok_or_else(|| {
                Error::malformed(WHAT, n, format!("event {n} (index {}) has no SHA-384 digest", event.index))
            })?;
            let mut h = Sha384::new();
            h.update(*slot);
            h.update(digest);
            slot.copy_from_slice(&h.finalize());
        }
        Ok(rtmr)
    }

    /// Whether any extending event targets CC MR `index` (1..4 = RTMR0..3).
    fn extends(&self, index: u32) -> bool {
        self.events.iter().any(|e| e.index == index && e.event_type != EV_NO_ACTION)
    }

    /// Replay and compare with the quote's RTMRs; a difference names the register.
    ///
    /// RTMR0..2 (firmware, boot loader and kernel) are always compared.
    /// RTMR3 is compared only when the log extends it: at run time the
    /// attestation agent extends RTMR3 with its own log, which is not part
    /// of the CC event log, and the quote's RTMR3 is reported as is.
    pub fn check_against(&self, quoted: &[[u8; 48]; 4]) -> Result<Replay> {
        let replayed = self.replay()?;
        for (i, (got, want)) in replayed.iter().zip(quoted).enumerate() {
            if i == 3 && !self.extends(4) {
                continue;
            }
            if got != want {
                return Err(Error::mismatch_bytes(format!("RTMR{i} (quote vs replayed event log)"), want, got));
            }
        }
        Ok(Replay { rtmr: replayed.map(hex::encode), event_count: self.events.len() })
    }
}
