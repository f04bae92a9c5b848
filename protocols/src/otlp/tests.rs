use super::*;

const T: u64 = 1_700_000_000_000_000_000;

fn json_request(metrics: &str) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
            {{"key":"service.name","value":{{"stringValue":"checkout"}}}},
            {{"key":"telemetry.sdk.language","value":{{"stringValue":"python"}}}},
            {{"key":"deployment.environment","value":{{"stringValue":"prod"}}}}]}},
          "scopeMetrics":[{{"scope":{{"name":"test"}},"metrics":[{metrics}]}}]}}]}}"#
    )
}

fn tags_of(p: &Datapoint) -> Vec<String> {
    p.tags.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

#[test]
fn gauges_and_sums_map_to_dstypes() -> Result<(), DecodeError> {
    let body = json_request(&format!(
        r#"{{"name":"queue.size","gauge":{{"dataPoints":[{{"timeUnixNano":"{T}","asInt":"7",
             "attributes":[{{"key":"q","value":{{"stringValue":"a:b"}}}}]}}]}}}},
           {{"name":"requests","sum":{{"aggregationTemporality":2,"isMonotonic":true,
             "dataPoints":[{{"timeUnixNano":"{T}","asDouble":12.5}}]}}}},
           {{"name":"inflight","sum":{{"aggregationTemporality":2,"isMonotonic":false,
             "dataPoints":[{{"timeUnixNano":"{T}","asInt":"-3"}}]}}}},
           {{"name":"deltas","sum":{{"aggregationTemporality":1,"isMonotonic":true,
             "dataPoints":[{{"timeUnixNano":"{T}","asInt":"120"}}]}}}}"#
    ));
    let d = decode(body.as_bytes(), Format::Json, 60_000, 1000)?;
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(d.source_points, 4);
    assert_eq!(
        tags_of(&d.points[0]),
        [
            "atlas.dstype=gauge",
            "deployment.environment=prod",
            "name=queue.size",
            "nf.app=checkout",
            "prom.q=a~3Ab"
        ]
    );
    assert_eq!(d.points[0].value, 7.0);
    assert_eq!(d.points[0].timestamp, 1_700_000_000_000);
    assert!(tags_of(&d.points[1]).contains(&"atlas.dstype=counter".to_string()));
    assert!(tags_of(&d.points[2]).contains(&"atlas.dstype=gauge".to_string()));
    assert_eq!(d.points[2].value, -3.0);
    assert!(tags_of(&d.points[3]).contains(&"atlas.dstype=sum".to_string()));
    assert_eq!(d.points[3].value, 2.0, "120 per minute is 2 per second");
    Ok(())
}

#[test]
fn histograms_become_cumulative_le_buckets() -> Result<(), DecodeError> {
    let body = json_request(&format!(
        r#"{{"name":"latency","unit":"s","histogram":{{"aggregationTemporality":2,
             "dataPoints":[{{"timeUnixNano":"{T}","count":"6","sum":3.5,
               "bucketCounts":["1","2","3"],"explicitBounds":[0.1,1]}}]}}}}"#
    ));
    let d = decode(body.as_bytes(), Format::Json, 60_000, 1000)?;
    let lines: Vec<String> = d
        .points
        .iter()
        .map(|p| format!("{} {}", tags_of(p).join(","), p.value))
        .collect();
    assert_eq!(
        lines,
        [
            "atlas.dstype=counter,deployment.environment=prod,le=0.1,name=latency_bucket,nf.app=checkout 1",
            "atlas.dstype=counter,deployment.environment=prod,le=1,name=latency_bucket,nf.app=checkout 3",
            "atlas.dstype=counter,deployment.environment=prod,le=~2BInf,name=latency_bucket,nf.app=checkout 6",
            "atlas.dstype=counter,deployment.environment=prod,name=latency_count,nf.app=checkout 6",
            "atlas.dstype=counter,deployment.environment=prod,name=latency_sum,nf.app=checkout 3.5",
        ]
    );
    Ok(())
}

#[test]
fn exponential_histograms_land_in_spectator_buckets() -> Result<(), DecodeError> {
    // scale 0: base 2, bucket i covers (2^i, 2^(i+1)]; 10 values in (0.5 s, 1 s].
    let body = json_request(&format!(
        r#"{{"name":"rpc","unit":"s","exponentialHistogram":{{"aggregationTemporality":2,
             "dataPoints":[{{"timeUnixNano":"{T}","count":"10","sum":7.5,"scale":0,
               "zeroCount":"0","positive":{{"offset":-1,"bucketCounts":["10"]}}}}]}}}}"#
    ));
    let d = decode(body.as_bytes(), Format::Json, 60_000, 1000)?;
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let pct: Vec<&Datapoint> = d
        .points
        .iter()
        .filter(|p| p.tags.iter().any(|(k, _)| k == "percentile"))
        .collect();
    assert_eq!(pct.len(), 1);
    // midpoint 2^-0.5 s = 707 ms, in Spectator's bucket for 707_106_781 ns
    let idx = bucket_index(707_106_781);
    let want = format!("percentile=T{idx:04X}");
    assert!(tags_of(pct[0]).contains(&want), "{:?}", tags_of(pct[0]));
    assert_eq!(pct[0].value, 10.0);
    let total = d
        .points
        .iter()
        .find(|p| {
            p.tags
                .iter()
                .any(|(k, v)| k == "statistic" && v == "totalTime")
        })
        .map(|p| p.value);
    assert_eq!(total, Some(7.5));
    Ok(())
}

#[test]
fn protobuf_round_trip_and_partial_success() -> Result<(), DecodeError> {
    let body = json_request(&format!(
        r#"{{"name":"g","gauge":{{"dataPoints":[{{"timeUnixNano":"{T}","asInt":"1"}},
             {{"timeUnixNano":"0","asInt":"2"}}, {{"timeUnixNano":"{T}"}}]}}}}"#
    ));
    let req = parse(body.as_bytes(), Format::Json)?;
    let pb = prost::Message::encode_to_vec(&req);
    let d = decode(&pb, Format::Protobuf, 60_000, 1000)?;
    assert_eq!(d.points.len(), 1);
    assert_eq!(d.errors.len(), 2, "{:?}", d.errors);
    assert!(d.errors[0].contains("no timeUnixNano"));
    assert!(d.errors[1].contains("no value"));
    let resp = response(Format::Json, 2, "2 data points refused");
    let v: serde_json::Value =
        serde_json::from_slice(&resp).map_err(|e| DecodeError::Malformed {
            format: "JSON",
            reason: e.to_string(),
        })?;
    assert_eq!(v["partialSuccess"]["errorMessage"], "2 data points refused");
    assert!(response(Format::Protobuf, 0, "").is_empty());
    Ok(())
}

#[test]
fn limits_and_garbage() {
    let body = json_request(&format!(
        r#"{{"name":"h","histogram":{{"aggregationTemporality":2,"dataPoints":[{{"timeUnixNano":"{T}",
            "count":"1","bucketCounts":["1","0","0","0"],"explicitBounds":[1,2,3]}}]}}}}"#
    ));
    assert_eq!(
        decode(body.as_bytes(), Format::Json, 60_000, 5),
        Err(DecodeError::TooManyPoints { limit: 5 })
    );
    assert!(matches!(
        decode(b"{not json", Format::Json, 60_000, 5),
        Err(DecodeError::Malformed { format: "JSON", .. })
    ));
    assert!(matches!(
        decode(b"\x0a\xff\xff", Format::Protobuf, 60_000, 5),
        Err(DecodeError::Malformed {
            format: "protobuf",
            ..
        })
    ));
    assert_eq!(
        Format::from_content_type("application/json; charset=utf-8"),
        Some(Format::Json)
    );
}
