//! Go's `strconv.FormatFloat(v, 'g', -1, 64)` as `expfmt.writeFloat` uses it.
