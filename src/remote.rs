//! Prometheus remote write/read: protobuf messages and snappy block decoding.
