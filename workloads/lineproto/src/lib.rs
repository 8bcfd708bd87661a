//! The MPCS ingest's hot path: canonical telemetry JSON → InfluxDB line protocol, in one pass.
//!
//! Every simulator writes its telemetry with `orjson.dumps` in one shape: the header keys, then
//! each subsystem's channels in catalogue order, no whitespace. `TelemetryEncoder` walks exactly
//! that shape, checks each value against its channel's JSON grammar and catalogue range, and
//! writes the points while it reads: the value tokens are already valid line protocol with the
//! same value, so nothing is converted except the numbers it range-checks and the timestamp.
//!
//! It only ever *accepts*. Anything else (whitespace, another key order, an unusual escape,
//! non-ASCII text, a float channel holding a JSON integer, a leap second…) gives `None`, and the
//! Python side (`mpcs.workloads.ingest.lineprotocol`) parses the JSON and asks the schema's
//! authority, `mpcs.core.telemetry.validate_message`, for the verdict and the reason. The
//! catalogue is not written here: Python passes it in (`TelemetryEncoder(...)`), from
//! `mpcs.core.telemetry.CHANNELS`, so there is one source of truth. Property tests in
//! tests/unit/workloads/test_ingest_lineprotocol.py check that whatever this accepts passes
//! `validate_message` and gives the same points as the reference encoder.
//!
//! Escaping follows `mpcs.kit.lineprotocol`, the one rule set: the satellite name is copied as it
//! is, so only names made of `[A-Za-z0-9._-]` (which `escape_tag` leaves unchanged) are accepted,
//! and a string value only when its JSON token is exactly what `format_string` writes. A unit test
//! checks both character by character.
//!
//! Why native: this conversion is the ingest's hot path, and in Python it takes the largest share
//! of the ingest's CPU (docs/ingest.md has the profile).

use std::io::Write;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Float,
    Int,
    Bool,
    Str,
}

struct Channel {
    /// `"name":`, preceded by `,` for every channel but a group's first.
    json_key: Vec<u8>,
    /// `key=`, preceded by `,` likewise (the field key already escaped by Python).
    field: Vec<u8>,
    kind: Kind,
    /// Float bounds, closed at the largest finite float (so `1e999`, an infinity, is out).
    lo: f64,
    hi: f64,
    /// The same bounds for an integer channel, rounded inwards.
    lo_i: i64,
    hi_i: i64,
}

struct Group {
    /// `,"subsystem":{`
    json_key: Vec<u8>,
    /// `measurement,tagkey=` (escaped by Python).
    line_head: Vec<u8>,
    channels: Vec<Channel>,
    /// Whether this point also carries the header's `mode` and `seq` fields.
    header: bool,
}

/// Canonical telemetry payloads → line protocol; see the module documentation.
#[pyclass(frozen, module = "mpcs_lineproto")]
struct TelemetryEncoder {
    /// `{"version":N,"satellite":"`
    head: Vec<u8>,
    modes: Vec<Vec<u8>>,
    groups: Vec<Group>,
}

/// (json name, escaped field key, kind, minimum, maximum)
type ChannelSpec = (String, String, String, Option<f64>, Option<f64>);
/// (json name, escaped measurement, carries the header fields, channels)
type GroupSpec = (String, String, bool, Vec<ChannelSpec>);

fn plain_name(name: &str) -> PyResult<()> {
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
        return Err(PyValueError::new_err(format!(
            "{name:?}: JSON names must be non-empty [A-Za-z0-9_]"
        )));
    }
    Ok(())
}

fn kind_of(name: &str) -> PyResult<Kind> {
    match name {
        "float" => Ok(Kind::Float),
        "int" => Ok(Kind::Int),
        "bool" => Ok(Kind::Bool),
        "str" => Ok(Kind::Str),
        other => Err(PyValueError::new_err(format!(
            "unknown channel type {other:?}"
        ))),
    }
}

fn channel(index: usize, spec: ChannelSpec) -> PyResult<Channel> {
    let (name, key, kind, minimum, maximum) = spec;
    plain_name(&name)?;
    let sep = if index == 0 { "" } else { "," };
    let lo = minimum.unwrap_or(f64::NEG_INFINITY).max(-f64::MAX);
    let hi = maximum.unwrap_or(f64::INFINITY).min(f64::MAX);
    Ok(Channel {
        json_key: format!("{sep}\"{name}\":").into_bytes(),
        field: format!("{sep}{key}=").into_bytes(),
        kind: kind_of(&kind)?,
        lo,
        hi,
        // `as` saturates: an open or huge bound becomes i64::MIN / i64::MAX.
        lo_i: minimum.map_or(i64::MIN, |m| m.ceil() as i64),
        hi_i: maximum.map_or(i64::MAX, |m| m.floor() as i64),
    })
}

#[pymethods]
impl TelemetryEncoder {
    /// `groups` in wire order: (subsystem, escaped measurement, carries mode/seq, channels), each
    /// channel (name, escaped field key, "float"|"int"|"bool"|"str", minimum, maximum).
    #[new]
    #[pyo3(signature = (*, version, modes, tag_key, groups))]
    fn new(
        version: u32,
        modes: Vec<String>,
        tag_key: String,
        groups: Vec<GroupSpec>,
    ) -> PyResult<Self> {
        for mode in &modes {
            plain_name(mode)?;
        }
        let mut built = Vec::with_capacity(groups.len());
        for (name, measurement, header, channels) in groups {
            plain_name(&name)?;
            built.push(Group {
                json_key: format!(",\"{name}\":{{").into_bytes(),
                line_head: format!("{measurement},{tag_key}=").into_bytes(),
                channels: channels
                    .into_iter()
                    .enumerate()
                    .map(|(i, spec)| channel(i, spec))
                    .collect::<PyResult<_>>()?,
                header,
            });
        }
        Ok(Self {
            head: format!("{{\"version\":{version},\"satellite\":\"").into_bytes(),
            modes: modes.into_iter().map(String::into_bytes).collect(),
            groups: built,
        })
    }

    /// The points of one payload, or None when this path does not vouch for it.
    fn encode<'py>(&self, py: Python<'py>, payload: &[u8]) -> Option<Bound<'py, PyBytes>> {
        let mut out = Vec::with_capacity(payload.len() + 512);
        self.encode_into(payload, &mut out)
            .then(|| PyBytes::new(py, &out))
    }

    /// `encode` of every payload of a Kafka fetch in one call (None for a missing value).
    fn encode_many<'py>(
        &self,
        py: Python<'py>,
        payloads: &Bound<'py, PyList>,
    ) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
        let mut out = Vec::with_capacity(4096);
        let mut result = Vec::with_capacity(payloads.len());
        for item in payloads.iter() {
            out.clear();
            let accepted = match item.cast::<PyBytes>() {
                Ok(bytes) => self.encode_into(bytes.as_bytes(), &mut out),
                Err(_) => false,
            };
            result.push(accepted.then(|| PyBytes::new(py, &out)));
        }
        Ok(result)
    }
}

impl TelemetryEncoder {
    /// Writes the points of `payload` into `out` (empty) and returns true, or returns false when
    /// the payload is not in the canonical shape or a value is invalid (`out` is then garbage:
    /// both callers drop or clear it).
    fn encode_into(&self, payload: &[u8], out: &mut Vec<u8>) -> bool {
        self.walk(&mut Cursor { b: payload, i: 0 }, out).is_some()
    }

    fn walk(&self, c: &mut Cursor, out: &mut Vec<u8>) -> Option<()> {
        c.lit(&self.head)?;
        let satellite =
            c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if satellite.is_empty() {
            return None;
        }
        c.lit(b"\",\"time\":\"")?;
        let mut stamp = [0u8; 32];
        let stamp = c.time(&mut stamp)?;
        c.lit(b"Z\",\"seq\":")?;
        let (seq, seq_value) = c.int()?;
        if seq_value < 0 {
            return None;
        }
        c.lit(b",\"mode\":\"")?;
        let mode = c.take_while(|b| b != b'"');
        if !self.modes.iter().any(|m| m == mode) {
            return None;
        }
        c.lit(b"\"")?;
        for group in &self.groups {
            c.lit(&group.json_key)?;
            out.extend_from_slice(&group.line_head);
            out.extend_from_slice(satellite);
            out.push(b' ');
            for ch in &group.channels {
                c.lit(&ch.json_key)?;
                out.extend_from_slice(&ch.field);
                out.extend_from_slice(c.value(ch)?);
                if ch.kind == Kind::Int {
                    out.push(b'i');
                }
            }
            c.lit(b"}")?;
            if group.header {
                out.extend_from_slice(b",mode=\"");
                out.extend_from_slice(mode);
                out.extend_from_slice(b"\",seq=");
                out.extend_from_slice(seq);
                out.push(b'i');
            }
            out.push(b' ');
            out.extend_from_slice(stamp);
            out.push(b'\n');
        }
        c.lit(b"}")?;
        c.at_end().then_some(())
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn lit(&mut self, s: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(s) {
            self.i += s.len();
            Some(())
        } else {
            None
        }
    }

    #[inline]
    fn peek(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.i == self.b.len()
    }

    #[inline]
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.i < self.b.len() && f(self.b[self.i]) {
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    #[inline]
    fn digits(&mut self) -> usize {
        self.take_while(|b| b.is_ascii_digit()).len()
    }

    /// One value token of `ch`'s type, range-checked; the token is its line-protocol text.
    #[inline]
    fn value(&mut self, ch: &Channel) -> Option<&'a [u8]> {
        match ch.kind {
            Kind::Float => {
                let token = self.float()?;
                // The grammar above admits only ASCII digits, signs, '.', 'e' and 'E'.
                let value: f64 = std::str::from_utf8(token).ok()?.parse().ok()?;
                (value >= ch.lo && value <= ch.hi).then_some(token)
            }
            Kind::Int => {
                let (token, value) = self.int()?;
                (value >= ch.lo_i && value <= ch.hi_i).then_some(token)
            }
            Kind::Bool => {
                let start = self.i;
                self.lit(b"true").or_else(|| self.lit(b"false"))?;
                Some(&self.b[start..self.i])
            }
            Kind::Str => self.string(),
        }
    }

    /// A JSON number with a fraction or an exponent (an integer token is not a float here).
    fn float(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        if self.peek() == b'-' {
            self.i += 1;
        }
        match self.peek() {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut shaped = false;
        if self.peek() == b'.' {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
            shaped = true;
        }
        if matches!(self.peek(), b'e' | b'E') {
            self.i += 1;
            if matches!(self.peek(), b'+' | b'-') {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            shaped = true;
        }
        shaped.then(|| &self.b[start..self.i])
    }

    /// `0` or an optionally negative integer of at most 18 digits (so it always fits 64 bits).
    fn int(&mut self) -> Option<(&'a [u8], i64)> {
        let start = self.i;
        let negative = self.peek() == b'-';
        if negative {
            self.i += 1;
        }
        let digits = self.take_while(|b| b.is_ascii_digit());
        let valid = match digits {
            [b'0'] => !negative,
            [b'1'..=b'9', ..] => digits.len() <= 18,
            _ => false,
        };
        if !valid {
            return None;
        }
        let magnitude = digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        Some((
            &self.b[start..self.i],
            if negative { -magnitude } else { magnitude },
        ))
    }

    /// A JSON string of printable ASCII whose only escapes are `\"` and `\\` — exactly a valid
    /// line-protocol string field with the same value. The token includes its quotes.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        self.lit(b"\"")?;
        loop {
            match self.peek() {
                b'"' => break,
                b'\\' => {
                    self.i += 1;
                    if !matches!(self.peek(), b'"' | b'\\') {
                        return None;
                    }
                }
                0x20..=0x7e => {}
                _ => return None, // control characters, DEL, non-ASCII, end of input
            }
            self.i += 1;
        }
        self.i += 1;
        Some(&self.b[start..self.i])
    }

    /// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn` (a real date and time of day, from 1970-01-01T00:00:01)
    /// → nanoseconds since the epoch as decimal digits, written into `buf`.
    fn time<'b>(&mut self, buf: &'b mut [u8; 32]) -> Option<&'b [u8]> {
        let text = self.b.get(self.i..self.i + 29)?;
        let number = |at: usize, len: usize| -> Option<i64> {
            text[at..at + len].iter().try_fold(0i64, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
            })
        };
        if text[4] != b'-'
            || text[7] != b'-'
            || text[10] != b'T'
            || text[13] != b':'
            || text[16] != b':'
            || text[19] != b'.'
        {
            return None;
        }
        let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
        let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
        number(20, 9)?; // nine fraction digits, copied as they are
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None; // a leap second (:60) is left to the Python path
        }
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        if seconds < 1 {
            return None; // the digits would need a sign or start with 0
        }
        let capacity = buf.len();
        let mut rest = &mut buf[..];
        write!(rest, "{seconds}").ok()?;
        let len = capacity - rest.len();
        buf[len..len + 9].copy_from_slice(&text[20..29]);
        self.i += 29;
        Some(&buf[..len + 9])
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[pymodule]
fn mpcs_lineproto(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TelemetryEncoder>()
}
