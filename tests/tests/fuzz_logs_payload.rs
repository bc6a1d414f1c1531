//! Hostile input to the CloudWatch Logs subscription decoder (`decode_subscription`): arbitrary
//! bytes and JSON, truncated gzip, valid gzip of invalid JSON, huge base64. It never panics and
//! never reads more than its decompressed limit; what it cannot read is a `PayloadError` saying
//! which layer (base64, gzip, JSON) failed.

mod fuzz_support;

use std::io::Write;

use base64::Engine as _;
use clawkeeper_openclaw::channel_log::{PayloadError, classify_line, decode_subscription};
use flate2::Compression;
use flate2::write::GzEncoder;
use fuzz_support::*;
use proptest::prelude::*;
use serde_json::{Value, json};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn payload(data: impl Into<Value>) -> Value {
    json!({"awslogs": {"data": data.into()}})
}

/// The real delivery of `tests/fixtures/events/logs-whatsapp-logged-out.json`, decompressed.
fn fixture_json() -> Vec<u8> {
    let fixture = fixtures()
        .into_iter()
        .find(|(n, _)| n == "logs-whatsapp-logged-out.json")
        .expect("logs fixture")
        .1;
    let data = fixture["awslogs"]["data"].as_str().expect("data");
    let gz = base64::engine::general_purpose::STANDARD.decode(data).expect("base64");
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut out).expect("gunzip");
    out
}

/// Decodes and, when it worked, classifies every line (what `log-alerts` does next).
fn decode(event: &Value) -> Result<usize, PayloadError> {
    let data = decode_subscription(event)?;
    for line in &data.log_events {
        let _ = classify_line(&line.message);
    }
    Ok(data.log_events.len())
}

proptest! {
    #![proptest_config(fuzz_support::config(1000))]

    #[test]
    fn arbitrary_events_never_panic(event in arbitrary_json()) {
        let _ = decode(&event);
    }

    #[test]
    fn arbitrary_bytes_as_data_are_refused_at_a_named_layer(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        // Raw bytes (lossy text) and their base64: both must be refused or decoded, never panic.
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        let _ = decode(&payload(lossy));
        match decode(&payload(b64(&bytes))) {
            Err(PayloadError::Gzip(_)) | Err(PayloadError::Json(_)) | Ok(_) => {}
            Err(other) => prop_assert!(false, "base64 of bytes must pass base64: {other}"),
        }
    }

    #[test]
    fn truncated_or_flipped_gzip_is_an_error_or_a_valid_prefix(cut in any::<prop::sample::Index>(), flip in any::<Option<(prop::sample::Index, u8)>>()) {
        let mut gz = gzip(&fixture_json());
        if let Some((at, xor)) = flip {
            let i = at.index(gz.len());
            gz[i] ^= xor.max(1);
        }
        let cut = cut.index(gz.len());
        let result = decode(&payload(b64(&gz[..cut])));
        // A cut stream never yields a payload: the gzip trailer (CRC, size) is missing.
        prop_assert!(result.is_err(), "truncated to {cut} bytes and still decoded");
    }

    #[test]
    fn valid_gzip_of_arbitrary_json_never_panics(doc in arbitrary_json()) {
        let bytes = serde_json::to_vec(&doc).expect("json");
        let _ = decode(&payload(b64(&gzip(&bytes))));
    }

    #[test]
    fn valid_gzip_of_mutated_real_payloads_never_panics(
        mutations in prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..5),
    ) {
        let doc: Value = serde_json::from_slice(&fixture_json()).expect("fixture json");
        let mutated = mutate(doc, &mutations);
        let bytes = serde_json::to_vec(&mutated).expect("json");
        match decode(&payload(b64(&gzip(&bytes)))) {
            Ok(_) | Err(PayloadError::Json(_)) => {}
            Err(other) => prop_assert!(false, "only the JSON layer can fail here: {other}"),
        }
    }

    #[test]
    fn valid_gzip_of_arbitrary_bytes_is_a_json_error(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        match decode(&payload(b64(&gzip(&bytes)))) {
            Ok(_) | Err(PayloadError::Json(_)) => {}
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}

#[test]
fn the_real_payload_decodes() {
    let n = decode(&payload(b64(&gzip(&fixture_json())))).expect("decodes");
    assert!(n >= 1);
}

#[test]
fn huge_base64_and_gzip_bombs_are_refused_within_the_limit() {
    // 24 MiB of a JSON string in 24 KiB of gzip: stopped at 16 MiB decompressed.
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(br#"{"messageType":"DATA_MESSAGE","logEvents":[],"pad":""#)
        .expect("head");
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..24 {
        gz.write_all(&chunk).expect("pad");
    }
    gz.write_all(br#""}"#).expect("tail");
    let bomb = gz.finish().expect("gzip");
    let started = std::time::Instant::now();
    match decode(&payload(b64(&bomb))) {
        Err(PayloadError::Gzip(e)) => assert!(e.to_string().contains("16 MiB"), "{e}"),
        other => panic!("expected the size limit, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    // 8 MiB of base64 that is not gzip: refused at the gzip layer, without panicking.
    let huge = "A".repeat(8 << 20);
    assert!(matches!(decode(&payload(huge)), Err(PayloadError::Gzip(_))));
    // Base64 with a bad character in the middle.
    let mut bad = b64(&gzip(&fixture_json()));
    bad.insert(bad.len() / 2, '*');
    assert!(matches!(decode(&payload(bad)), Err(PayloadError::Base64(_))));
    // Not a payload at all.
    for event in [
        json!(null),
        json!({"awslogs": 1}),
        json!({"awslogs": {"data": 7}}),
        json!([]),
    ] {
        assert!(matches!(decode(&event), Err(PayloadError::Missing)), "{event}");
    }
}
