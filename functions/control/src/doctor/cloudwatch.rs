//! The two CloudWatch reads of the `test` action, over CloudWatch's AWS JSON 1.0 protocol with a
//! SigV4 signature of our own. Why not `aws-sdk-cloudwatch`: its releases speak only the RPCv2
//! CBOR protocol, which the local AWS of the end-to-end tests (moto) cannot read; JSON 1.0 is one of
//! the protocols CloudWatch serves, and two calls do not need a client crate.

use std::time::Duration;

use aws_config::SdkConfig;
use clawkeeper_aws::signed_post::{SignedPost, Target};
use serde_json::{Value, json};

use super::verdicts::Alarm;

const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";
/// The signing name of CloudWatch (its endpoint prefix).
const SERVICE: &str = "monitoring";
const TIMEOUT: Duration = Duration::from_secs(10);

/// CloudWatch, for one region, with the function's credentials.
pub struct CloudWatch {
    sdk: SdkConfig,
    client: SignedPost,
}

impl CloudWatch {
    pub fn new(sdk: &SdkConfig) -> Result<Self, String> {
        Ok(Self {
            sdk: sdk.clone(),
            client: SignedPost::new(Duration::from_secs(3))?,
        })
    }

    /// The named alarms as CloudWatch has them (a name it does not know is simply not listed).
    pub async fn alarms(&self, names: &[String]) -> Result<Vec<Alarm>, String> {
        let answer = self
            .call(
                "DescribeAlarms",
                json!({ "AlarmNames": names, "AlarmTypes": ["MetricAlarm"], "MaxRecords": 100 }),
            )
            .await?;
        let alarms = answer["MetricAlarms"].as_array().cloned().unwrap_or_default();
        Ok(alarms
            .iter()
            .map(|a| Alarm {
                name: a["AlarmName"].as_str().unwrap_or_default().to_string(),
                actions_enabled: a["ActionsEnabled"].as_bool().unwrap_or(false),
                alarm_actions: a["AlarmActions"]
                    .as_array()
                    .map(|list| list.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
                state: a["StateValue"].as_str().unwrap_or_default().to_string(),
            })
            .collect())
    }

    /// Epoch seconds of the newest minute with a datapoint of the metric in the last `window`.
    pub async fn newest_datapoint(
        &self,
        namespace: &str,
        metric: &str,
        now: i64,
        window: Duration,
    ) -> Result<Option<i64>, String> {
        let start = now - i64::try_from(window.as_secs()).unwrap_or(1800);
        let answer = self
            .call(
                "GetMetricStatistics",
                json!({ "Namespace": namespace, "MetricName": metric, "StartTime": start, "EndTime": now,
                        "Period": 60, "Statistics": ["Sum"] }),
            )
            .await?;
        let points = answer["Datapoints"].as_array().cloned().unwrap_or_default();
        Ok(points
            .iter()
            .filter(|p| p["Sum"].as_f64().unwrap_or(0.0) > 0.0)
            .filter_map(|p| timestamp(&p["Timestamp"]))
            .max())
    }

    async fn call(&self, operation: &str, body: Value) -> Result<Value, String> {
        let region = self
            .sdk
            .region()
            .map(|r| r.to_string())
            .ok_or("no AWS region configured")?;
        let endpoint = match self.sdk.endpoint_url() {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("https://{SERVICE}.{region}.amazonaws.com"),
        };
        let url = format!("{endpoint}/");
        let target = format!("{TARGET_PREFIX}.{operation}");
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target.as_str()),
        ];
        let to = Target {
            url: &url,
            service: SERVICE,
            region: &region,
        };
        let (status, bytes) = self
            .client
            .post(&self.sdk, to, &headers, body.to_string(), TIMEOUT)
            .await
            .map_err(|e| format!("CloudWatch {operation}: {e}"))?;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let code = answer["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("");
            let message = answer["message"].as_str().or(answer["Message"].as_str()).unwrap_or("");
            return Err(format!("CloudWatch {operation}: HTTP {status} {code} {message}")
                .trim()
                .to_string());
        }
        Ok(answer)
    }
}

/// A JSON 1.0 timestamp: epoch seconds as a number (possibly with a fraction).
fn timestamp(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_epoch_seconds_with_or_without_a_fraction() {
        assert_eq!(timestamp(&json!(1_800_000_000)), Some(1_800_000_000));
        assert_eq!(timestamp(&json!(1_800_000_000.5)), Some(1_800_000_000));
        assert_eq!(timestamp(&json!("2027-01-15T08:00:00Z")), None);
    }
}
