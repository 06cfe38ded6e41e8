//! Decoder of a remote-read `ReadRequest` with gogo-protobuf's rules and error texts, as
//! Prometheus 2.42 answers them (`proto: wrong wireType = 0 for field Queries`,
//! `proto: ReadRequest: illegal tag 0 (wire type 0)`, `unexpected EOF`). Unlike prost, and like
//! Go, strings are not checked for UTF-8 (invalid bytes become U+FFFD, as Go's regexp reads
//! them). Built on the wire reader of the remote-write decoder.

use crate::remote::decode::{DecodeError, Reader, WIRE_LEN, WIRE_VARINT, check_wire};
use crate::remote::proto;

/// Nesting budget for skipping unknown groups (prost's limit; Go has none).
const SKIP_DEPTH: u32 = 100;

/// Decodes a `ReadRequest` body (after snappy).
pub fn read_request(buf: &[u8]) -> Result<proto::ReadRequest, DecodeError> {
    let mut req = proto::ReadRequest::default();
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (tag, wire) = r.key("ReadRequest")?;
        match tag {
            1 => {
                check_wire(wire, WIRE_LEN, "Queries")?;
                req.queries.push(query(r.len_delimited()?)?);
            }
            2 => match wire {
                WIRE_VARINT => req.accepted_response_types.push(r.varint()? as i32),
                WIRE_LEN => {
                    let mut packed = Reader::new(r.len_delimited()?);
                    while !packed.is_empty() {
                        // Enums are int32 on the wire; Go truncates the varint the same way.
                        req.accepted_response_types.push(packed.varint()? as i32);
                    }
                }
                _ => {
                    return Err(DecodeError::WrongWireType {
                        field: "AcceptedResponseTypes",
                        wire_type: wire,
                    });
                }
            },
            _ => r.skip(tag, wire, SKIP_DEPTH)?,
        }
    }
    Ok(req)
}

fn query(buf: &[u8]) -> Result<proto::Query, DecodeError> {
    let mut q = proto::Query::default();
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (tag, wire) = r.key("Query")?;
        match tag {
            1 => q.start_timestamp_ms = int64(&mut r, wire, "StartTimestampMs")?,
            2 => q.end_timestamp_ms = int64(&mut r, wire, "EndTimestampMs")?,
            3 => {
                check_wire(wire, WIRE_LEN, "Matchers")?;
                q.matchers.push(matcher(r.len_delimited()?)?);
            }
            4 => {
                check_wire(wire, WIRE_LEN, "Hints")?;
                // A repeated occurrence merges into the hints already read (Go and prost).
                let h = q.hints.get_or_insert_with(proto::ReadHints::default);
                hints(r.len_delimited()?, h)?;
            }
            _ => r.skip(tag, wire, SKIP_DEPTH)?,
        }
    }
    Ok(q)
}

fn matcher(buf: &[u8]) -> Result<proto::LabelMatcher, DecodeError> {
    let mut m = proto::LabelMatcher::default();
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (tag, wire) = r.key("LabelMatcher")?;
        match tag {
            1 => {
                check_wire(wire, WIRE_VARINT, "Type")?;
                m.r#type = r.varint()? as i32;
            }
            2 => m.name = string(&mut r, wire, "Name")?,
            3 => m.value = string(&mut r, wire, "Value")?,
            _ => r.skip(tag, wire, SKIP_DEPTH)?,
        }
    }
    Ok(m)
}

fn hints(buf: &[u8], h: &mut proto::ReadHints) -> Result<(), DecodeError> {
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (tag, wire) = r.key("ReadHints")?;
        match tag {
            1 => h.step_ms = int64(&mut r, wire, "StepMs")?,
            2 => h.func = string(&mut r, wire, "Func")?,
            3 => h.start_ms = int64(&mut r, wire, "StartMs")?,
            4 => h.end_ms = int64(&mut r, wire, "EndMs")?,
            5 => h.grouping.push(string(&mut r, wire, "Grouping")?),
            6 => {
                check_wire(wire, WIRE_VARINT, "By")?;
                h.by = r.varint()? != 0;
            }
            7 => h.range_ms = int64(&mut r, wire, "RangeMs")?,
            _ => r.skip(tag, wire, SKIP_DEPTH)?,
        }
    }
    Ok(())
}

fn int64(r: &mut Reader<'_>, wire: u8, field: &'static str) -> Result<i64, DecodeError> {
    check_wire(wire, WIRE_VARINT, field)?;
    // int64 is two's complement in a varint: the cast is the protobuf rule.
    Ok(r.varint()? as i64)
}

fn string(r: &mut Reader<'_>, wire: u8, field: &'static str) -> Result<String, DecodeError> {
    check_wire(wire, WIRE_LEN, field)?;
    Ok(String::from_utf8_lossy(r.len_delimited()?).into_owned())
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn valid_requests_decode_as_prost_does() {
        let req = proto::ReadRequest {
            queries: vec![
                proto::Query {
                    start_timestamp_ms: -5,
                    end_timestamp_ms: 1 << 40,
                    matchers: vec![proto::LabelMatcher {
                        r#type: 3,
                        name: "job".into(),
                        value: "a|b".into(),
                    }],
                    hints: Some(proto::ReadHints {
                        step_ms: 15_000,
                        func: "rate".into(),
                        start_ms: 1,
                        end_ms: 2,
                        grouping: vec!["a".into(), "b".into()],
                        by: true,
                        range_ms: 300_000,
                    }),
                },
                proto::Query::default(),
            ],
            accepted_response_types: vec![1, 0, 7],
        };
        let raw = req.encode_to_vec();
        assert_eq!(read_request(&raw), Ok(req));
        // Unpacked enums and an unknown field (9, varint) are accepted too.
        let got = read_request(b"\x10\x01\x10\x00\x48\x05").expect("decodes");
        assert_eq!(got.accepted_response_types, vec![1, 0]);
    }

    #[test]
    fn errors_have_go_texts() {
        // (case, body, text)
        let cases: Vec<(&str, &[u8], &str)> = vec![
            (
                "wrong wire type",
                b"\x08\x01",
                "proto: wrong wireType = 0 for field Queries",
            ),
            (
                "illegal tag",
                b"\x00",
                "proto: ReadRequest: illegal tag 0 (wire type 0)",
            ),
            (
                "matchers wire type",
                b"\x0a\x02\x18\x01",
                "proto: wrong wireType = 0 for field Matchers",
            ),
            ("truncated", b"\x0a\x05\x08", "unexpected EOF"),
            ("truncated varint", b"\x10", "unexpected EOF"),
        ];
        for (case, body, want) in cases {
            let got = read_request(body).map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_owned()), "case {case}");
        }
        let lossy = read_request(b"\x0a\x05\x1a\x03\x12\x01\xff").expect("Go accepts bad UTF-8");
        assert_eq!(lossy.queries[0].matchers[0].name, "\u{fffd}");
    }
}
