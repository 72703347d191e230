//! `prometheus` probes: an instant query through the HTTP API, which must come down
//! to exactly one number.
//!
//! The answer (<https://prometheus.io/docs/prometheus/latest/querying/api/>) is
//! `{"status": "success" | "error", "data": {"resultType", "result"}}` on success
//! and `{"status": "error", "errorType", "error"}` otherwise; sample values are
//! strings (`"0.93"`, `"NaN"`, `"+Inf"`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{finite, http, ProbeError, Reading};

#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

/// A sample of an instant vector; native histograms carry `histogram` instead of
/// `value`.
#[derive(Deserialize)]
struct Sample {
    #[serde(default)]
    metric: serde_json::Map<String, Value>,
    value: Option<(Value, String)>,
}

/// Runs `query` on the server at `base` (`http://prometheus:9090`, a path prefix
/// allowed) and gives its one number.
pub(super) async fn query(
    base: &str,
    query: &str,
    timeout: Duration,
) -> Result<Reading, ProbeError> {
    let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
    let answer = http::get(url, vec![("query", query.to_string())], timeout).await?;
    match serde_json::from_str::<Answer>(&answer.body) {
        Ok(parsed) => reading(parsed),
        // A proxy's error page, or not Prometheus at all.
        Err(_) if !answer.success() => Err(answer.status_error()),
        Err(error) => Err(unreadable(format!("not the API's JSON ({error})"))),
    }
}

fn reading(answer: Answer) -> Result<Reading, ProbeError> {
    if answer.status != "success" {
        return Err(ProbeError::Prometheus {
            kind: answer.error_type.unwrap_or_else(|| answer.status.clone()),
            message: answer.error.unwrap_or_default(),
        });
    }
    let data = answer
        .data
        .ok_or_else(|| unreadable("a success without data".to_string()))?;
    match data.result_type.as_str() {
        "scalar" => {
            let (_, value) =
                serde_json::from_value::<(Value, String)>(data.result).map_err(|error| {
                    unreadable(format!("a scalar that is not [time, value] ({error})"))
                })?;
            Ok(Reading {
                value: number(&value)?,
                detail: "scalar".to_string(),
            })
        }
        "vector" => {
            let mut samples =
                serde_json::from_value::<Vec<Sample>>(data.result).map_err(|error| {
                    unreadable(format!("a vector that is not a list of samples ({error})"))
                })?;
            match samples.len() {
                0 => Err(ProbeError::PrometheusNoSeries),
                1 => {
                    let sample = samples.remove(0);
                    let (_, value) = sample.value.ok_or_else(|| {
                        unreadable("a sample without a value (a native histogram?)".to_string())
                    })?;
                    Ok(Reading {
                        value: number(&value)?,
                        detail: series(&sample.metric),
                    })
                }
                count => Err(ProbeError::PrometheusSeveralSeries { count }),
            }
        }
        other => Err(ProbeError::PrometheusResultType {
            kind: other.to_string(),
        }),
    }
}

/// A sample value: Prometheus writes floats as strings, NaN and infinities included.
fn number(value: &str) -> Result<f64, ProbeError> {
    let parsed = value
        .parse::<f64>()
        .map_err(|_| unreadable(format!("the sample value {value:?} is not a number")))?;
    finite(parsed)
}

/// `name{label="value",...}` as PromQL prints a series; `{}` for a series with no
/// labels (a `sum(...)`).
fn series(metric: &serde_json::Map<String, Value>) -> String {
    let name = metric
        .get("__name__")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let labels: Vec<String> = metric
        .iter()
        .filter(|(key, _)| key.as_str() != "__name__")
        .map(|(key, value)| match value {
            Value::String(text) => format!("{key}={text:?}"),
            other => format!("{key}={other}"),
        })
        .collect();
    if labels.is_empty() && !name.is_empty() {
        return super::excerpt(name);
    }
    super::excerpt(&format!("{name}{{{}}}", labels.join(",")))
}

fn unreadable(reason: String) -> ProbeError {
    ProbeError::PrometheusAnswer { reason }
}
