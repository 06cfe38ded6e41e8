//! Prometheus remote write/read 1.0 messages (`prompb/remote.proto`, `prompb/types.proto`,
//! package `prometheus`), as prost derives: no build script, no protoc.
//!
//! These owned types are the correctness oracle for [`crate::remote::decode`] and the message
//! types of remote read; the write hot path does not use them.

/// `prometheus.WriteRequest`: the body of a remote-write request (after snappy).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct WriteRequest {
    /// The series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (type, help, unit); fedstore ignores it.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: one label set with its samples, exemplars and histograms.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TimeSeries {
    /// The label set, in sender order (Prometheus sends it sorted by name).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples, in sender order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars (not stored by fedstore).
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histogram samples (not stored by fedstore).
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// `prometheus.Label`: one label pair.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Labels`: a bare label set.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Labels {
    /// The label pairs.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
}

/// `prometheus.Sample`: one float sample.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct Sample {
    /// The sample value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.Exemplar`: an exemplar attached to a series.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Exemplar {
    /// The exemplar's own labels (e.g. `trace_id`).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The exemplar value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// `UNKNOWN`.
    Unknown = 0,
    /// `COUNTER`.
    Counter = 1,
    /// `GAUGE`.
    Gauge = 2,
    /// `HISTOGRAM`.
    Histogram = 3,
    /// `GAUGEHISTOGRAM`.
    Gaugehistogram = 4,
    /// `SUMMARY`.
    Summary = 5,
    /// `INFO`.
    Info = 6,
    /// `STATESET`.
    Stateset = 7,
}

/// `prometheus.MetricMetadata`: type, help and unit of one metric family.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MetricMetadata {
    /// The family type.
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    /// The family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// The help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// The unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.BucketSpan`: a run of consecutive native-histogram buckets.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span (or the starting index of the first span).
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// `prometheus.Histogram.ResetHint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum ResetHint {
    /// `UNKNOWN`: nothing known about counter resets.
    Unknown = 0,
    /// `YES`: a counter reset happened.
    Yes = 1,
    /// `NO`: no counter reset.
    No = 2,
    /// `GAUGE`: a gauge histogram, resets are meaningless.
    Gauge = 3,
}

/// `prometheus.Histogram.count` (oneof).
#[derive(Clone, Copy, PartialEq, ::prost::Oneof)]
pub enum HistogramCount {
    /// Integer histogram observation count.
    #[prost(uint64, tag = "1")]
    CountInt(u64),
    /// Float histogram observation count.
    #[prost(double, tag = "2")]
    CountFloat(f64),
}

/// `prometheus.Histogram.zero_count` (oneof).
#[derive(Clone, Copy, PartialEq, ::prost::Oneof)]
pub enum HistogramZeroCount {
    /// Integer zero-bucket count.
    #[prost(uint64, tag = "6")]
    ZeroCountInt(u64),
    /// Float zero-bucket count.
    #[prost(double, tag = "7")]
    ZeroCountFloat(f64),
}

/// `prometheus.Histogram`: one native histogram sample.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Histogram {
    /// Observation count.
    #[prost(oneof = "HistogramCount", tags = "1, 2")]
    pub count: Option<HistogramCount>,
    /// Sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Bucket schema (resolution).
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Width of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// Zero-bucket count.
    #[prost(oneof = "HistogramZeroCount", tags = "6, 7")]
    pub zero_count: Option<HistogramZeroCount>,
    /// Negative bucket spans.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Negative bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Negative bucket counts (float histograms).
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Positive bucket spans.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Positive bucket counts as deltas (integer histograms).
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Positive bucket counts (float histograms).
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Counter-reset hint.
    #[prost(enumeration = "ResetHint", tag = "14")]
    pub reset_hint: i32,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
}

/// `prometheus.LabelMatcher.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum MatcherType {
    /// `EQ`: `=`.
    Eq = 0,
    /// `NEQ`: `!=`.
    Neq = 1,
    /// `RE`: `=~`.
    Re = 2,
    /// `NRE`: `!~`.
    Nre = 3,
}

/// `prometheus.LabelMatcher`: one matcher of a remote-read query.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct LabelMatcher {
    /// The match operator.
    #[prost(enumeration = "MatcherType", tag = "1")]
    pub r#type: i32,
    /// Label name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Value or regex.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `prometheus.ReadHints`: optional query hints.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ReadHints {
    /// Query step in milliseconds.
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    /// The PromQL function around the selector.
    #[prost(string, tag = "2")]
    pub func: String,
    /// Start of the selected range, milliseconds.
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    /// End of the selected range, milliseconds.
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    /// Grouping labels of the surrounding aggregation.
    #[prost(string, repeated, tag = "5")]
    pub grouping: Vec<String>,
    /// Whether the grouping is `by` (else `without`).
    #[prost(bool, tag = "6")]
    pub by: bool,
    /// Range of a range selector, milliseconds.
    #[prost(int64, tag = "7")]
    pub range_ms: i64,
}

/// `prometheus.Query`: one remote-read query.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Query {
    /// Start of the range, milliseconds (inclusive).
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// End of the range, milliseconds (inclusive).
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// The selector's matchers.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    /// Optional hints.
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// `prometheus.ReadRequest.ResponseType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    /// `SAMPLES`: a snappy-compressed `ReadResponse`.
    Samples = 0,
    /// `STREAMED_XOR_CHUNKS`: a stream of `ChunkedReadResponse` frames.
    StreamedXorChunks = 1,
}

/// `prometheus.ReadRequest`: the body of a remote-read request (after snappy).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ReadRequest {
    /// The queries.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// Response types the client accepts, in preference order.
    #[prost(enumeration = "ResponseType", repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// `prometheus.QueryResult`: the series of one query.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct QueryResult {
    /// Matching series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.ReadResponse`: one result per query, in query order.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ReadResponse {
    /// The results.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// `prometheus.Chunk.Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum ChunkEncoding {
    /// `UNKNOWN`.
    Unknown = 0,
    /// `XOR`: Gorilla float chunk.
    Xor = 1,
    /// `HISTOGRAM`: native histogram chunk.
    Histogram = 2,
}

/// `prometheus.Chunk`: one encoded chunk of a streamed remote-read response.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Chunk {
    /// First timestamp in the chunk, milliseconds.
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    /// Last timestamp in the chunk, milliseconds.
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    /// The chunk encoding.
    #[prost(enumeration = "ChunkEncoding", tag = "3")]
    pub r#type: i32,
    /// The encoded chunk bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

/// `prometheus.ChunkedSeries`: a series with its chunks.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ChunkedSeries {
    /// The label set.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Chunks in time order.
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<Chunk>,
}

/// `prometheus.ChunkedReadResponse`: one frame of a streamed remote-read response.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ChunkedReadResponse {
    /// The series of this frame.
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    /// Index of the query these series answer.
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

impl TimeSeries {
    /// A series from `(name, value)` label pairs (sent in this order) and `(timestamp ms,
    /// value)` samples.
    pub fn from_pairs(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Self {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            ..TimeSeries::default()
        }
    }
}

impl WriteRequest {
    /// The request as a remote-write body: protobuf encoded, then one snappy block.
    pub fn encode_snappy(&self) -> Result<Vec<u8>, snap::Error> {
        use prost::Message as _;
        snap::raw::Encoder::new().compress_vec(&self.encode_to_vec())
    }
}
