//! Zero-copy decoder of a remote-write `WriteRequest` (the hot path of `/api/v1/write`).
//!
//! Walks the protobuf wire format of the decompressed body: label names and values are borrowed
//! from it, samples land in reused vectors. Accepts and rejects exactly what prost accepts and
//! rejects for [`proto::WriteRequest`] (exemplars, histograms and metadata are validated by a
//! schema walk but not kept), which [`must_match_prost`] checks and the fuzz target exercises.
//! Error texts follow Go's gogo-protobuf generated code, as Prometheus 2.42 returns them.

use std::fmt;

use crate::remote::proto;

/// Prost's nesting budget (`prost::RECURSION_LIMIT`); groups and messages consume it alike.
const RECURSION_LIMIT: u32 = 100;

/// The budget left for the fields of a `Label` (inside `WriteRequest` and `TimeSeries`).
const LABEL_FIELDS_CTX: u32 = RECURSION_LIMIT - 2;

/// Wire types of the protobuf encoding.
pub(crate) const WIRE_VARINT: u8 = 0;
pub(crate) const WIRE_FIXED64: u8 = 1;
pub(crate) const WIRE_LEN: u8 = 2;
const WIRE_START_GROUP: u8 = 3;
const WIRE_END_GROUP: u8 = 4;
const WIRE_FIXED32: u8 = 5;

/// Why a body is not a valid `WriteRequest`. Texts are Go's (gogo-protobuf), plus the cases prost
/// rejects and Go does not (invalid UTF-8, varint overflow, recursion).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside a field (Go `io.ErrUnexpectedEOF`).
    UnexpectedEof,
    /// A varint longer than 10 bytes or overflowing 64 bits.
    IntOverflow,
    /// A field key with field number 0 or above `u32::MAX >> 3`.
    IllegalTag {
        /// The message being decoded.
        message: &'static str,
        /// The field number read.
        tag: u64,
        /// The wire type read.
        wire_type: u8,
    },
    /// An end-group key where no group is open.
    EndGroupForNonGroup {
        /// The message being decoded.
        message: &'static str,
    },
    /// A known field with the wrong wire type.
    WrongWireType {
        /// The field's Go name, e.g. `Timeseries`.
        field: &'static str,
        /// The wire type read.
        wire_type: u8,
    },
    /// Wire type 6 or 7.
    IllegalWireType(u8),
    /// A group closed by the end-group key of another field.
    UnexpectedEndOfGroup,
    /// A string field that is not valid UTF-8 (Go accepts it; prost and fedstore do not).
    InvalidUtf8 {
        /// The field's Go name, e.g. `Name`.
        field: &'static str,
    },
    /// Groups nested deeper than prost's recursion limit.
    RecursionLimit,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnexpectedEof => f.write_str("unexpected EOF"),
            DecodeError::IntOverflow => f.write_str("proto: integer overflow"),
            DecodeError::IllegalTag {
                message,
                tag,
                wire_type,
            } => {
                write!(
                    f,
                    "proto: {message}: illegal tag {tag} (wire type {wire_type})"
                )
            }
            DecodeError::EndGroupForNonGroup { message } => {
                write!(f, "proto: {message}: wiretype end group for non-group")
            }
            DecodeError::WrongWireType { field, wire_type } => {
                write!(f, "proto: wrong wireType = {wire_type} for field {field}")
            }
            DecodeError::IllegalWireType(w) => write!(f, "proto: illegal wireType {w}"),
            DecodeError::UnexpectedEndOfGroup => f.write_str("proto: unexpected end of group"),
            DecodeError::InvalidUtf8 { field } => {
                write!(f, "proto: invalid UTF-8 in string field {field}")
            }
            DecodeError::RecursionLimit => f.write_str("proto: recursion limit reached"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One label pair borrowed from the decompressed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LabelView<'a> {
    /// Label name, as sent (not yet validated as a Prometheus name).
    pub name: &'a str,
    /// Label value; may be empty (meaning absent).
    pub value: &'a str,
}

/// One float sample.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SampleView {
    /// Milliseconds since the Unix epoch.
    pub t_ms: i64,
    /// The value; stale markers keep their exact bits.
    pub v: f64,
}

/// One `TimeSeries`: index ranges into [`WriteRequestView::labels`] and
/// [`WriteRequestView::samples`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeSeriesView<'a> {
    /// Start (inclusive) of this series' labels in [`WriteRequestView::labels`].
    pub labels_start: u32,
    /// End (exclusive) of this series' labels.
    pub labels_end: u32,
    /// Start (inclusive) of this series' samples in [`WriteRequestView::samples`].
    pub samples_start: u32,
    /// End (exclusive) of this series' samples.
    pub samples_end: u32,
    /// Whether the labels are decoded into [`WriteRequestView::labels`]; after
    /// [`WriteRequestView::decode_deferred`] a contiguous label run waits for
    /// [`WriteRequestView::parse_labels`] (until then its label range is empty).
    pub labels_parsed: bool,
    /// Number of exemplars sent with the series (validated, not kept).
    pub exemplars: u32,
    /// Number of native histogram samples sent with the series (validated, not kept).
    pub histograms: u32,
    /// The encoded label fields, when they are one contiguous run of bytes (as every known
    /// sender writes them): equal bytes decode to equal label lists, so this is a cache key.
    /// Empty when the labels are interleaved with other fields.
    pub labels_raw: &'a [u8],
}

/// A decoded `WriteRequest`, borrowing from the decompressed body. Reuse one per thread with
/// [`WriteRequestView::recycle`] so steady-state decoding allocates nothing.
#[derive(Debug, Default)]
pub struct WriteRequestView<'a> {
    /// The series in body order.
    pub series: Vec<TimeSeriesView<'a>>,
    /// The labels of all series, each series a contiguous range.
    pub labels: Vec<LabelView<'a>>,
    /// The samples of all series, each series a contiguous range.
    pub samples: Vec<SampleView>,
    /// Number of `MetricMetadata` entries (validated, not kept).
    pub metadata: u32,
}

impl<'a> WriteRequestView<'a> {
    /// The labels of `s`.
    pub fn labels_of(&self, s: &TimeSeriesView<'a>) -> &[LabelView<'a>] {
        &self.labels[s.labels_start as usize..s.labels_end as usize]
    }

    /// The samples of `s`.
    pub fn samples_of(&self, s: &TimeSeriesView<'a>) -> &[SampleView] {
        &self.samples[s.samples_start as usize..s.samples_end as usize]
    }

    /// Empties the view and releases its borrow of the body, keeping the allocations.
    pub fn recycle<'b>(self) -> WriteRequestView<'b> {
        WriteRequestView {
            series: recycle_vec(self.series, TimeSeriesView::default()),
            labels: recycle_vec(self.labels, LabelView::default()),
            samples: {
                let mut s = self.samples;
                s.clear();
                s
            },
            metadata: 0,
        }
    }

    /// Decodes `buf` (a whole `WriteRequest`) into this view, replacing its contents.
    pub fn decode(&mut self, buf: &'a [u8]) -> Result<(), DecodeError> {
        self.decode_with(buf, false)
    }

    /// Like [`WriteRequestView::decode`], but the labels of a series whose label fields are
    /// contiguous are only delimited ([`TimeSeriesView::labels_raw`]), not parsed: callers that
    /// find the series in a cache keyed by those exact bytes (which parsed once already) skip
    /// the work, and call [`WriteRequestView::parse_labels`] for the others. Parsing every series
    /// this way accepts and yields exactly what [`WriteRequestView::decode`] does.
    pub fn decode_deferred(&mut self, buf: &'a [u8]) -> Result<(), DecodeError> {
        self.decode_with(buf, true)
    }

    /// Parses the deferred labels of series `i` (no-op when already parsed).
    pub fn parse_labels(&mut self, i: usize) -> Result<(), DecodeError> {
        let s = &mut self.series[i];
        if s.labels_parsed {
            return Ok(());
        }
        s.labels_start = len_u32(self.labels.len());
        for_each_label(s.labels_raw, |l| self.labels.push(l))?;
        s.labels_end = len_u32(self.labels.len());
        s.labels_parsed = true;
        Ok(())
    }

    fn decode_with(&mut self, buf: &'a [u8], defer_labels: bool) -> Result<(), DecodeError> {
        self.series.clear();
        self.labels.clear();
        self.samples.clear();
        self.metadata = 0;
        let mut r = Reader { buf, pos: 0 };
        let ctx = RECURSION_LIMIT;
        while !r.is_empty() {
            let (tag, wire) = r.key("WriteRequest")?;
            match tag {
                1 => {
                    check_wire(wire, WIRE_LEN, "Timeseries")?;
                    let body = r.len_delimited()?;
                    self.decode_series(body, ctx - 1, defer_labels)?;
                }
                3 => {
                    check_wire(wire, WIRE_LEN, "Metadata")?;
                    let body = r.len_delimited()?;
                    validate(body, &METRIC_METADATA, ctx - 1)?;
                    self.metadata += 1;
                }
                _ => r.skip(tag, wire, ctx)?,
            }
        }
        Ok(())
    }

    /// Decodes one `TimeSeries` body; `ctx` is the budget of its fields.
    fn decode_series(
        &mut self,
        buf: &'a [u8],
        ctx: u32,
        defer_labels: bool,
    ) -> Result<(), DecodeError> {
        let mut ts = TimeSeriesView {
            labels_start: len_u32(self.labels.len()),
            samples_start: len_u32(self.samples.len()),
            ..TimeSeriesView::default()
        };
        let mut run = LabelRun::default();
        let mut r = Reader { buf, pos: 0 };
        while !r.is_empty() {
            let field_start = r.pos;
            let (tag, wire) = r.key("TimeSeries")?;
            match tag {
                1 => {
                    check_wire(wire, WIRE_LEN, "Labels")?;
                    let body = r.len_delimited()?;
                    if !defer_labels {
                        self.labels.push(decode_label(body, ctx - 1)?);
                    }
                    run.label(field_start, r.pos);
                }
                2 => {
                    check_wire(wire, WIRE_LEN, "Samples")?;
                    let body = r.len_delimited()?;
                    self.samples.push(decode_sample(body, ctx - 1)?);
                    run.other();
                }
                3 => {
                    check_wire(wire, WIRE_LEN, "Exemplars")?;
                    validate(r.len_delimited()?, &EXEMPLAR, ctx - 1)?;
                    ts.exemplars += 1;
                    run.other();
                }
                4 => {
                    check_wire(wire, WIRE_LEN, "Histograms")?;
                    validate(r.len_delimited()?, &HISTOGRAM, ctx - 1)?;
                    ts.histograms += 1;
                    run.other();
                }
                _ => {
                    r.skip(tag, wire, ctx)?;
                    run.other();
                }
            }
        }
        ts.samples_end = len_u32(self.samples.len());
        ts.labels_raw = match run {
            LabelRun {
                span: Some((s, e)),
                broken: false,
                ..
            } => &buf[s..e],
            _ => &[],
        };
        if defer_labels && ts.labels_raw.is_empty() {
            // Interleaved (or no) labels: nothing to defer, parse them now.
            let mut r = Reader { buf, pos: 0 };
            while !r.is_empty() {
                let (tag, wire) = r.key("TimeSeries")?;
                if tag == 1 {
                    self.labels.push(decode_label(r.len_delimited()?, ctx - 1)?);
                } else {
                    r.skip(tag, wire, ctx)?;
                }
            }
        }
        ts.labels_end = len_u32(self.labels.len());
        ts.labels_parsed = !defer_labels || ts.labels_raw.is_empty();
        self.series.push(ts);
        Ok(())
    }
}

/// Parses a label run ([`TimeSeriesView::labels_raw`]) into its labels.
pub fn labels_from_raw(raw: &[u8]) -> Result<Vec<LabelView<'_>>, DecodeError> {
    let mut out = Vec::new();
    for_each_label(raw, |l| out.push(l))?;
    Ok(out)
}

/// Calls `f` with each label of a label run.
fn for_each_label<'a>(raw: &'a [u8], mut f: impl FnMut(LabelView<'a>)) -> Result<(), DecodeError> {
    let mut r = Reader { buf: raw, pos: 0 };
    while !r.is_empty() {
        // The run holds only `Labels` fields, checked while delimiting it.
        r.key("TimeSeries")?;
        let body = r.len_delimited()?;
        f(decode_label(body, LABEL_FIELDS_CTX)?);
    }
    Ok(())
}

/// Tracks whether a series' label fields form one contiguous run of bytes.
#[derive(Default)]
struct LabelRun {
    /// Byte range of the label fields seen so far.
    span: Option<(usize, usize)>,
    /// Another field came after the first label.
    closed: bool,
    /// A label came after another field that followed earlier labels.
    broken: bool,
}

impl LabelRun {
    fn label(&mut self, start: usize, end: usize) {
        match self.span {
            None => self.span = Some((start, end)),
            Some((s, e)) if !self.closed && e == start => self.span = Some((s, end)),
            Some(_) => self.broken = true,
        }
    }

    fn other(&mut self) {
        self.closed = self.span.is_some();
    }
}

/// Converts an index into the `u32` the views store. Bodies are capped far below 4 GiB, so a
/// body cannot hold more than `u32::MAX` fields.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).expect("a decompressed body is capped below 4 GiB")
}

/// Reuses a vector's allocation for a shorter-lived element type: the vector is emptied first,
/// so the mapping closure never runs and std collects in place.
fn recycle_vec<T, U>(mut v: Vec<T>, filler: U) -> Vec<U>
where
    U: Copy,
{
    v.clear();
    v.into_iter().map(|_| filler).collect()
}

/// Decodes one `Label` body.
fn decode_label(buf: &[u8], ctx: u32) -> Result<LabelView<'_>, DecodeError> {
    // Fast path: exactly `name` then `value`, each once, short lengths (every real sender).
    if let [0x0a, nl, rest @ ..] = buf
        && *nl < 0x80
        && let Some((name, rest)) = rest.split_at_checked(*nl as usize)
        && let [0x12, vl, value @ ..] = rest
        && *vl < 0x80
        && usize::from(*vl) == value.len()
    {
        return Ok(LabelView {
            name: utf8(name, "Name")?,
            value: utf8(value, "Value")?,
        });
    }
    let mut label = LabelView::default();
    let mut r = Reader { buf, pos: 0 };
    while !r.is_empty() {
        let (tag, wire) = r.key("Label")?;
        match tag {
            1 => {
                check_wire(wire, WIRE_LEN, "Name")?;
                label.name = utf8(r.len_delimited()?, "Name")?;
            }
            2 => {
                check_wire(wire, WIRE_LEN, "Value")?;
                label.value = utf8(r.len_delimited()?, "Value")?;
            }
            _ => r.skip(tag, wire, ctx)?,
        }
    }
    Ok(label)
}

/// Decodes one `Sample` body.
fn decode_sample(buf: &[u8], ctx: u32) -> Result<SampleView, DecodeError> {
    let mut s = SampleView::default();
    let mut r = Reader { buf, pos: 0 };
    while !r.is_empty() {
        let (tag, wire) = r.key("Sample")?;
        match tag {
            1 => {
                check_wire(wire, WIRE_FIXED64, "Value")?;
                s.v = f64::from_bits(r.fixed64()?);
            }
            2 => {
                check_wire(wire, WIRE_VARINT, "Timestamp")?;
                // int64 is two's complement in a varint: the cast is the protobuf rule.
                s.t_ms = r.varint()? as i64;
            }
            _ => r.skip(tag, wire, ctx)?,
        }
    }
    Ok(s)
}

/// Validates a UTF-8 string field.
fn utf8<'a>(b: &'a [u8], field: &'static str) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8 { field })
}

/// Checks the wire type of a known field.
pub(crate) fn check_wire(got: u8, want: u8, field: &'static str) -> Result<(), DecodeError> {
    if got == want {
        Ok(())
    } else {
        Err(DecodeError::WrongWireType {
            field,
            wire_type: got,
        })
    }
}

/// A cursor over one message body.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// A base-128 varint, at most 10 bytes, the 10th at most 1 (prost's overflow rule).
    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let rest = &self.buf[self.pos..];
        match rest.first() {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                return Ok(u64::from(b));
            }
            None => return Err(DecodeError::UnexpectedEof),
            Some(_) => {}
        }
        let mut value = 0u64;
        for (i, &b) in rest.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b >= 0x02 {
                    return Err(DecodeError::IntOverflow);
                }
                self.pos += i + 1;
                return Ok(value);
            }
        }
        if rest.len() < 10 {
            Err(DecodeError::UnexpectedEof)
        } else {
            Err(DecodeError::IntOverflow)
        }
    }

    /// A field key: (field number, wire type).
    #[inline]
    pub(crate) fn key(&mut self, message: &'static str) -> Result<(u32, u8), DecodeError> {
        let key = self.varint()?;
        let wire_type = (key & 7) as u8;
        let tag = key >> 3;
        if key > u64::from(u32::MAX) || tag == 0 {
            return Err(DecodeError::IllegalTag {
                message,
                tag,
                wire_type,
            });
        }
        if wire_type > WIRE_FIXED32 {
            return Err(DecodeError::IllegalWireType(wire_type));
        }
        if wire_type == WIRE_END_GROUP {
            return Err(DecodeError::EndGroupForNonGroup { message });
        }
        // `tag <= u32::MAX >> 3` after the check above.
        Ok((tag as u32, wire_type))
    }

    /// A length-delimited field's bytes.
    #[inline]
    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let rest = self.buf.len() - self.pos;
        if len > rest as u64 {
            return Err(DecodeError::UnexpectedEof);
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// A little-endian fixed64 field.
    #[inline]
    fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take::<8>()?;
        Ok(u64::from_le_bytes(b))
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let end = self.pos.checked_add(N).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(DecodeError::UnexpectedEof)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..end]);
        self.pos = end;
        Ok(out)
    }

    /// Skips an unknown field whose key was just read, as prost's `skip_field` does
    /// (groups included, consuming the recursion budget `ctx`).
    pub(crate) fn skip(&mut self, tag: u32, wire: u8, ctx: u32) -> Result<(), DecodeError> {
        if ctx == 0 {
            return Err(DecodeError::RecursionLimit);
        }
        match wire {
            WIRE_VARINT => {
                self.varint()?;
            }
            WIRE_FIXED64 => {
                self.take::<8>()?;
            }
            WIRE_FIXED32 => {
                self.take::<4>()?;
            }
            WIRE_LEN => {
                self.len_delimited()?;
            }
            WIRE_START_GROUP => loop {
                let key = self.varint()?;
                let inner_wire = (key & 7) as u8;
                let inner_tag = key >> 3;
                if key > u64::from(u32::MAX) || inner_tag == 0 {
                    return Err(DecodeError::IllegalTag {
                        message: "group",
                        tag: inner_tag,
                        wire_type: inner_wire,
                    });
                }
                if inner_wire > WIRE_FIXED32 {
                    return Err(DecodeError::IllegalWireType(inner_wire));
                }
                if inner_wire == WIRE_END_GROUP {
                    if inner_tag != u64::from(tag) {
                        return Err(DecodeError::UnexpectedEndOfGroup);
                    }
                    break;
                }
                self.skip(inner_tag as u32, inner_wire, ctx - 1)?;
            },
            _ => return Err(DecodeError::UnexpectedEndOfGroup),
        }
        Ok(())
    }
}

/// How a known field of a validated-only message is encoded.
#[derive(Clone, Copy)]
enum Kind {
    /// Any varint scalar (int, uint, sint, bool, enum), singular.
    Varint,
    /// A double, singular.
    Fixed64,
    /// A UTF-8 string.
    Str,
    /// An embedded message.
    Msg(&'static Schema),
    /// A repeated varint scalar: packed or not.
    RepeatedVarint,
    /// A repeated double: packed or not.
    RepeatedFixed64,
}

/// The known fields of a message we validate but do not keep.
struct Schema {
    name: &'static str,
    fields: &'static [(u32, &'static str, Kind)],
}

static LABEL: Schema = Schema {
    name: "Label",
    fields: &[(1, "Name", Kind::Str), (2, "Value", Kind::Str)],
};

static EXEMPLAR: Schema = Schema {
    name: "Exemplar",
    fields: &[
        (1, "Labels", Kind::Msg(&LABEL)),
        (2, "Value", Kind::Fixed64),
        (3, "Timestamp", Kind::Varint),
    ],
};

static BUCKET_SPAN: Schema = Schema {
    name: "BucketSpan",
    fields: &[(1, "Offset", Kind::Varint), (2, "Length", Kind::Varint)],
};

static HISTOGRAM: Schema = Schema {
    name: "Histogram",
    fields: &[
        (1, "CountInt", Kind::Varint),
        (2, "CountFloat", Kind::Fixed64),
        (3, "Sum", Kind::Fixed64),
        (4, "Schema", Kind::Varint),
        (5, "ZeroThreshold", Kind::Fixed64),
        (6, "ZeroCountInt", Kind::Varint),
        (7, "ZeroCountFloat", Kind::Fixed64),
        (8, "NegativeSpans", Kind::Msg(&BUCKET_SPAN)),
        (9, "NegativeDeltas", Kind::RepeatedVarint),
        (10, "NegativeCounts", Kind::RepeatedFixed64),
        (11, "PositiveSpans", Kind::Msg(&BUCKET_SPAN)),
        (12, "PositiveDeltas", Kind::RepeatedVarint),
        (13, "PositiveCounts", Kind::RepeatedFixed64),
        (14, "ResetHint", Kind::Varint),
        (15, "Timestamp", Kind::Varint),
    ],
};

static METRIC_METADATA: Schema = Schema {
    name: "MetricMetadata",
    fields: &[
        (1, "Type", Kind::Varint),
        (2, "MetricFamilyName", Kind::Str),
        (4, "Help", Kind::Str),
        (5, "Unit", Kind::Str),
    ],
};

/// Checks that `buf` is a valid encoding of `schema` (same acceptance as prost), `ctx` being the
/// budget of its fields.
fn validate(buf: &[u8], schema: &Schema, ctx: u32) -> Result<(), DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    while !r.is_empty() {
        let (tag, wire) = r.key(schema.name)?;
        let Some(&(_, field, kind)) = schema.fields.iter().find(|f| f.0 == tag) else {
            r.skip(tag, wire, ctx)?;
            continue;
        };
        match kind {
            Kind::Varint => {
                check_wire(wire, WIRE_VARINT, field)?;
                r.varint()?;
            }
            Kind::Fixed64 => {
                check_wire(wire, WIRE_FIXED64, field)?;
                r.fixed64()?;
            }
            Kind::Str => {
                check_wire(wire, WIRE_LEN, field)?;
                utf8(r.len_delimited()?, field)?;
            }
            Kind::Msg(inner) => {
                check_wire(wire, WIRE_LEN, field)?;
                validate(r.len_delimited()?, inner, ctx - 1)?;
            }
            Kind::RepeatedVarint if wire == WIRE_LEN => {
                let mut p = Reader {
                    buf: r.len_delimited()?,
                    pos: 0,
                };
                while !p.is_empty() {
                    p.varint()?;
                }
            }
            Kind::RepeatedVarint => {
                check_wire(wire, WIRE_VARINT, field)?;
                r.varint()?;
            }
            Kind::RepeatedFixed64 if wire == WIRE_LEN => {
                if r.len_delimited()?.len() % 8 != 0 {
                    return Err(DecodeError::UnexpectedEof);
                }
            }
            Kind::RepeatedFixed64 => {
                check_wire(wire, WIRE_FIXED64, field)?;
                r.fixed64()?;
            }
        }
    }
    Ok(())
}

/// Decodes `data` with both this decoder and prost's [`proto::WriteRequest`] and panics unless
/// they agree: both reject it, or both accept it with the same series, labels, samples (by bit
/// pattern), exemplar and histogram counts. Returns whether `data` was accepted.
///
/// The body of the `remote_write_decode` fuzz target and of the randomized unit tests.
pub fn must_match_prost(data: &[u8]) -> bool {
    use prost::Message as _;
    let oracle = proto::WriteRequest::decode(data);
    let mut view = WriteRequestView::default();
    let ours = view.decode(data);
    // Deferred decoding plus parsing every series must give the same outcome and labels.
    let mut deferred = WriteRequestView::default();
    let deferred_ok = deferred.decode_deferred(data).is_ok()
        && (0..deferred.series.len()).all(|i| deferred.parse_labels(i).is_ok());
    assert_eq!(
        deferred_ok,
        ours.is_ok(),
        "deferred decoding disagrees: {data:02x?}"
    );
    if deferred_ok {
        for (a, b) in view.series.iter().zip(&deferred.series) {
            assert_eq!(
                view.labels_of(a),
                deferred.labels_of(b),
                "deferred labels: {data:02x?}"
            );
        }
    }
    match (ours, oracle) {
        (Err(_), Err(_)) => false,
        (Ok(()), Err(e)) => panic!("prost rejects ({e}) what we accept: {data:02x?}"),
        (Err(e), Ok(_)) => panic!("we reject ({e}) what prost accepts: {data:02x?}"),
        (Ok(()), Ok(want)) => {
            assert_eq!(
                view.series.len(),
                want.timeseries.len(),
                "series count: {data:02x?}"
            );
            assert_eq!(
                view.metadata as usize,
                want.metadata.len(),
                "metadata: {data:02x?}"
            );
            for (got, want) in view.series.iter().zip(&want.timeseries) {
                let labels: Vec<(&str, &str)> = view
                    .labels_of(got)
                    .iter()
                    .map(|l| (l.name, l.value))
                    .collect();
                let want_labels: Vec<(&str, &str)> = want
                    .labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str()))
                    .collect();
                assert_eq!(labels, want_labels, "labels: {data:02x?}");
                let samples: Vec<(i64, u64)> = view
                    .samples_of(got)
                    .iter()
                    .map(|s| (s.t_ms, s.v.to_bits()))
                    .collect();
                let want_samples: Vec<(i64, u64)> = want
                    .samples
                    .iter()
                    .map(|s| (s.timestamp, s.value.to_bits()))
                    .collect();
                assert_eq!(samples, want_samples, "samples: {data:02x?}");
                assert_eq!(got.exemplars as usize, want.exemplars.len(), "exemplars");
                assert_eq!(got.histograms as usize, want.histograms.len(), "histograms");
                if !got.labels_raw.is_empty() {
                    let again = proto::TimeSeries::decode(got.labels_raw)
                        .expect("the raw label run decodes on its own");
                    assert_eq!(again.labels, want.labels, "raw label run: {data:02x?}");
                }
            }
            true
        }
    }
}

#[cfg(test)]
mod tests;
