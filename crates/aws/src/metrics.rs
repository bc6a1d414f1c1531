//! CloudWatch metrics without an API call: one embedded-metric-format (EMF) line on stdout per
//! set of values, which CloudWatch Logs turns into metrics of the namespace `Clawkeeper`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The namespace every clawkeeper metric is published in (the template's alarms read it).
pub const NAMESPACE: &str = "Clawkeeper";

/// The EMF line for `metrics` (name, value, unit) under `dimensions` (name, value), stamped `millis`.
pub fn metric_line(dimensions: &[(&str, &str)], metrics: &[(&str, f64, &str)], millis: u64) -> Value {
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({ "Name": name, "Unit": unit }))
        .collect();
    let mut line = json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": definitions,
            }],
        },
    });
    if let Some(obj) = line.as_object_mut() {
        for (name, value) in dimensions {
            obj.insert((*name).to_string(), json!(value));
        }
        for (name, value, _) in metrics {
            obj.insert((*name).to_string(), json!(value));
        }
    }
    line
}

/// Prints [`metric_line`] stamped now.
pub fn emit(dimensions: &[(&str, &str)], metrics: &[(&str, f64, &str)]) {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    println!("{}", metric_line(dimensions, metrics, millis));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_its_dimensions_and_carries_the_values() {
        let line = metric_line(&[("Gateway", "home")], &[("GatewayUp", 1.0, "Count")], 42);
        assert_eq!(line["_aws"]["Timestamp"], 42);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Gateway"]]));
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], "GatewayUp");
        assert_eq!(line["Gateway"], "home");
        assert_eq!(line["GatewayUp"], 1.0);
    }
}
