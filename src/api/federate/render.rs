//! The `/federate` hot path: turns the latest sample of each selected series into text-format
//! lines, in one reused buffer, without allocating per series.
//!
//! Output rules are Prometheus 2.42's `web/federate.go`: one `# TYPE <name> untyped` line per run
//! of equal metric names, the series' own labels in name order (`__name__` and empty values
//! skipped), then the external labels the series lacks, sorted by name, then value and timestamp.

use std::io::Write;

use bytes::Bytes;
use fedstore_storage::{LabelsRef, LatestSink};
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};

use crate::exposition::float::{write_float, write_i64};
use crate::exposition::write::{write_label_value, write_type_line};

/// Raw text is handed to the encoder (or sent) once it reaches this size.
const FLUSH_BYTES: usize = 64 * 1024;
/// Compressed output is sent once it reaches this size.
const SEND_BYTES: usize = 32 * 1024;
/// gzip level for federate bodies: level 1 compresses ~3x faster than the default with
/// output about 1.3x larger (measured in docs/benchmarks.md); scrapers accept any level.
pub const GZIP_LEVEL: u32 = 1;

/// External labels as `/federate` applies them: sorted by name, and always with an
/// `instance` entry (`""` unless configured), so that a global server scraping with
/// `honor_labels: true` does not stamp the source's address onto aggregated series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalLabels {
    pairs: Vec<(String, String)>,
}

impl ExternalLabels {
    /// Builds the federate view of the configured `global.external_labels`.
    pub fn new(configured: &[(String, String)]) -> Self {
        let mut pairs: Vec<(String, String)> = configured.to_vec();
        if !pairs.iter().any(|(n, _)| n == "instance") {
            pairs.push(("instance".to_owned(), String::new()));
        }
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        ExternalLabels { pairs }
    }

    /// The labels in name order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// Content-coding of a federate body, chosen from `Accept-Encoding` like Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// `deflate`, which Go's handler writes as a zlib stream (RFC 1950).
    Deflate,
}

impl Encoding {
    /// Prometheus's rule (`util/httputil/compression.go`): the first comma-separated token
    /// that is exactly `gzip` or `deflate` wins; q-values are not parsed.
    pub fn negotiate(accept_encoding: Option<&str>) -> Encoding {
        for token in accept_encoding.unwrap_or("").split(',') {
            match token.trim() {
                "gzip" => return Encoding::Gzip,
                "deflate" => return Encoding::Deflate,
                _ => {}
            }
        }
        Encoding::Identity
    }

    /// The `Content-Encoding` header value, if any.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Deflate => Some("deflate"),
        }
    }

    /// Compresses a whole small body (error messages, a lone `# TYPE` line).
    pub fn encode_all(self, data: &[u8]) -> Vec<u8> {
        let mut out = Compressor::new(self);
        out.write(data);
        out.finish()
    }
}

/// A streaming compressor writing into a `Vec<u8>` we can drain between writes.
enum Compressor {
    Identity(Vec<u8>),
    Gzip(GzEncoder<Vec<u8>>),
    Deflate(ZlibEncoder<Vec<u8>>),
}

impl Compressor {
    fn new(enc: Encoding) -> Self {
        let level = Compression::new(GZIP_LEVEL);
        match enc {
            Encoding::Identity => Compressor::Identity(Vec::new()),
            Encoding::Gzip => Compressor::Gzip(GzEncoder::new(Vec::new(), level)),
            Encoding::Deflate => Compressor::Deflate(ZlibEncoder::new(Vec::new(), level)),
        }
    }

    fn write(&mut self, data: &[u8]) {
        // Writing into a Vec<u8> sink cannot fail.
        let _ = match self {
            Compressor::Identity(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            Compressor::Gzip(e) => e.write_all(data),
            Compressor::Deflate(e) => e.write_all(data),
        };
    }

    fn pending(&mut self) -> &mut Vec<u8> {
        match self {
            Compressor::Identity(v) => v,
            Compressor::Gzip(e) => e.get_mut(),
            Compressor::Deflate(e) => e.get_mut(),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Compressor::Identity(v) => v,
            Compressor::Gzip(e) => e.finish().unwrap_or_default(),
            Compressor::Deflate(e) => e.finish().unwrap_or_default(),
        }
    }
}

/// What a segment renderer hands to the response, in order.
#[derive(Debug)]
pub enum Piece {
    /// The `# TYPE` line of the segment's first emitted family, encoded on its own (a separate
    /// gzip member when compressing): the response drops it when the previous segment ended
    /// with the same family.
    First {
        /// Metric name of that family.
        name: String,
        /// The encoded `# TYPE` line.
        bytes: Bytes,
    },
    /// Encoded body bytes.
    Chunk(Bytes),
    /// The segment is complete; `last_name` is the family it ended with (None: it emitted nothing).
    End {
        /// Metric name of the last emitted series.
        last_name: Option<String>,
    },
}

/// Renders one segment of a selection; `send` delivers pieces and returns `false` once the
/// client is gone, which stops the walk.
pub struct Renderer<'a, S: FnMut(Piece) -> bool> {
    ext: &'a ExternalLabels,
    enc: Encoding,
    text: Vec<u8>,
    out: Compressor,
    ext_used: Vec<bool>,
    /// `ext_first[b]`: some external label name starts with byte `b`.
    ext_first: [bool; 256],
    last_name: String,
    started: bool,
    send: S,
    alive: bool,
}

impl<'a, S: FnMut(Piece) -> bool> Renderer<'a, S> {
    /// A renderer for one segment.
    pub fn new(ext: &'a ExternalLabels, enc: Encoding, send: S) -> Self {
        Renderer {
            ext,
            enc,
            text: Vec::with_capacity(FLUSH_BYTES + 4096),
            out: Compressor::new(enc),
            ext_used: vec![false; ext.pairs.len()],
            ext_first: {
                let mut first = [false; 256];
                for (n, _) in &ext.pairs {
                    if let Some(&b) = n.as_bytes().first() {
                        first[usize::from(b)] = true;
                    }
                }
                first
            },
            last_name: String::new(),
            started: false,
            send,
            alive: true,
        }
    }

    /// Whether the client is still reading.
    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// Flushes what is buffered and reports the end of the segment.
    pub fn finish(mut self) {
        if !self.alive {
            return;
        }
        self.flush_text();
        let rest = std::mem::replace(&mut self.out, Compressor::Identity(Vec::new())).finish();
        if !rest.is_empty() && !(self.send)(Piece::Chunk(Bytes::from(rest))) {
            return;
        }
        let last_name = self.started.then(|| std::mem::take(&mut self.last_name));
        (self.send)(Piece::End { last_name });
    }

    fn flush_text(&mut self) {
        self.out.write(&self.text);
        self.text.clear();
        let pending = self.out.pending();
        if pending.len() >= SEND_BYTES || matches!(self.enc, Encoding::Identity) {
            let chunk = Bytes::from(std::mem::take(pending));
            if !chunk.is_empty() {
                self.alive = (self.send)(Piece::Chunk(chunk));
            }
        }
    }

    fn start_family(&mut self, name: &str) {
        self.last_name.clear();
        self.last_name.push_str(name);
        if self.started {
            write_type_line(&mut self.text, name, "untyped");
            return;
        }
        self.started = true;
        let mut line = Vec::with_capacity(name.len() + 16);
        write_type_line(&mut line, name, "untyped");
        let bytes = Bytes::from(self.enc.encode_all(&line));
        self.alive = (self.send)(Piece::First {
            name: name.to_owned(),
            bytes,
        });
    }
}

impl<S: FnMut(Piece) -> bool> LatestSink for Renderer<'_, S> {
    fn sample(&mut self, labels: &dyn LabelsRef, t_ms: i64, v: f64) -> bool {
        let name = labels.metric_name();
        if name.is_empty() {
            // Prometheus: "Ignoring nameless metric during federation".
            return true;
        }
        if !self.started || name != self.last_name {
            self.start_family(name);
            if !self.alive {
                return false;
            }
        }
        let text = &mut self.text;
        let ext = &self.ext.pairs;
        let used = &mut self.ext_used;
        used.fill(false);
        text.extend_from_slice(name.as_bytes());
        let mut sep = b'{';
        let ext_first = &self.ext_first;
        labels.for_each(&mut |n, val| {
            if n == "__name__" || val.is_empty() {
                return;
            }
            text.push(sep);
            sep = b',';
            text.extend_from_slice(n.as_bytes());
            text.extend_from_slice(b"=\"");
            write_label_value(text, val);
            text.push(b'"');
            // Most label names cannot be external ones: a first-byte test skips the compare.
            if n.as_bytes()
                .first()
                .is_some_and(|&b| ext_first[usize::from(b)])
                && let Some(i) = ext.iter().position(|(en, _)| en == n)
            {
                used[i] = true;
            }
        });
        for (i, (n, val)) in ext.iter().enumerate() {
            if !used[i] {
                text.push(sep);
                sep = b',';
                text.extend_from_slice(n.as_bytes());
                text.extend_from_slice(b"=\"");
                write_label_value(text, val);
                text.push(b'"');
            }
        }
        if sep == b',' {
            text.push(b'}');
        }
        text.push(b' ');
        write_float(text, v);
        text.push(b' ');
        write_i64(text, t_ms);
        text.push(b'\n');
        if self.text.len() >= FLUSH_BYTES {
            self.flush_text();
        }
        self.alive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label set for tests, already sorted.
    struct TestLabels(Vec<(&'static str, &'static str)>);

    impl LabelsRef for TestLabels {
        fn metric_name(&self) -> &str {
            self.0
                .iter()
                .find(|(n, _)| *n == "__name__")
                .map_or("", |(_, v)| v)
        }
        fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
            for (n, v) in &self.0 {
                f(n, v);
            }
        }
    }

    /// A series as (labels, timestamp, value).
    type Series = (Vec<(&'static str, &'static str)>, i64, f64);

    fn render(ext: &[(&str, &str)], series: &[Series]) -> String {
        let ext: Vec<(String, String)> = ext
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let ext = ExternalLabels::new(&ext);
        let mut pieces = Vec::new();
        let mut r = Renderer::new(&ext, Encoding::Identity, |p| {
            pieces.push(p);
            true
        });
        for (labels, t, v) in series {
            assert!(r.sample(&TestLabels(labels.clone()), *t, *v));
        }
        r.finish();
        let mut out = String::new();
        for p in pieces {
            match p {
                Piece::First { bytes, .. } | Piece::Chunk(bytes) => {
                    out.push_str(std::str::from_utf8(&bytes).unwrap())
                }
                Piece::End { .. } => {}
            }
        }
        out
    }

    #[test]
    fn prometheus_federate_cases() {
        // Cases from Prometheus 2.42 web/federate_test.go and verified runs.
        let m1 = vec![
            ("__name__", "test_metric1"),
            ("foo", "bar"),
            ("instance", "i"),
        ];
        let bare = vec![("__name__", "test_metric_without_labels")];
        let esc = vec![
            ("__name__", "fmt_test"),
            ("e", "a\\b\"c\nd"),
            ("instance", "h:1"),
            ("job", "t"),
        ];
        type Case = (
            &'static str,
            Vec<(&'static str, &'static str)>,
            Vec<Series>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "no external labels",
                vec![],
                vec![(m1.clone(), 6000000, 10000.0)],
                "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\",instance=\"i\"} 10000 6000000\n",
            ),
            (
                "instance=\"\" added",
                vec![],
                vec![(bare.clone(), 6000000, 1001.0)],
                "# TYPE test_metric_without_labels untyped\ntest_metric_without_labels{instance=\"\"} 1001 6000000\n",
            ),
            (
                "external labels appended, series wins",
                vec![("foo", "baz"), ("zone", "ie")],
                vec![(m1.clone(), 1, 1.0), (bare.clone(), 2, -0.0)],
                "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\",instance=\"i\",zone=\"ie\"} 1 1\n# TYPE test_metric_without_labels untyped\ntest_metric_without_labels{foo=\"baz\",instance=\"\",zone=\"ie\"} 0 2\n",
            ),
            (
                "instance is an external label",
                vec![("instance", "baz")],
                vec![(m1.clone(), 1, 1.0), (bare.clone(), 2, f64::NAN)],
                "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\",instance=\"i\"} 1 1\n# TYPE test_metric_without_labels untyped\ntest_metric_without_labels{instance=\"baz\"} NaN 2\n",
            ),
            (
                "escaping",
                vec![("foo", "baz"), ("zone", "ie")],
                vec![(esc, 5, f64::INFINITY)],
                "# TYPE fmt_test untyped\nfmt_test{e=\"a\\\\b\\\"c\\nd\",instance=\"h:1\",job=\"t\",foo=\"baz\",zone=\"ie\"} +Inf 5\n",
            ),
            (
                "one TYPE line per family run",
                vec![],
                vec![
                    (m1.clone(), 1, 1.0),
                    (
                        vec![
                            ("__name__", "test_metric1"),
                            ("foo", "boo"),
                            ("instance", "i"),
                        ],
                        1,
                        2.0,
                    ),
                ],
                "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\",instance=\"i\"} 1 1\ntest_metric1{foo=\"boo\",instance=\"i\"} 2 1\n",
            ),
            (
                "nameless series skipped",
                vec![],
                vec![(vec![("job", "x")], 1, 1.0)],
                "",
            ),
        ];
        for (name, ext, series, want) in cases {
            assert_eq!(render(&ext, &series), want, "case {name}");
        }
    }

    #[test]
    fn negotiates_like_prometheus() {
        let cases = [
            (None, Encoding::Identity),
            (Some("gzip"), Encoding::Gzip),
            (Some("br, gzip, deflate"), Encoding::Gzip),
            (Some("deflate,gzip"), Encoding::Deflate),
            (Some("gzip;q=1"), Encoding::Identity),
            (Some(" gzip "), Encoding::Gzip),
            (Some("identity"), Encoding::Identity),
        ];
        for (header, want) in cases {
            assert_eq!(Encoding::negotiate(header), want, "case {header:?}");
        }
    }
}
