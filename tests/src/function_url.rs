//! A loopback stand-in for a Lambda function URL with `AuthType: AWS_IAM`: it checks each
//! request's SigV4 signature (service `lambda`) against the test's credentials, and hands the body
//! to the real function binary as the function URL event Lambda would build (payload format 2.0),
//! with the signer's ARN as the authorizer's `userArn`; the function's URL response becomes the
//! HTTP answer. A bad or missing signature is a 403, as AWS answers, and the function never runs.
//!
//! [`url_event`] builds the same event for a test that invokes the function itself.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use clawkeeper_core::watch::time::parse_rfc3339;
use serde_json::{Value, json};

use crate::function::{FunctionProcess, Invocation};
use crate::http::{Answer, Message, serve_connection};

/// Who AWS would say signed with an access key.
#[derive(Debug, Clone)]
pub struct Signer {
    pub access_key: String,
    pub secret: String,
    /// The principal's ARN, as the authorizer names it.
    pub arn: String,
}

/// The function URL event of a request with `body`, signed by `user_arn` (none: no authorizer,
/// as with `AuthType: NONE`).
pub fn url_event(method: &str, body: &str, user_arn: Option<&str>) -> Value {
    let mut context = json!({
        "accountId": "anonymous",
        "apiId": "clawkeepertest",
        "domainName": "clawkeepertest.lambda-url.us-east-1.on.aws",
        "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                 "userAgent": "clawkeeper-tests"},
        "requestId": crate::runtime_api::next_request_id(),
        "routeKey": "$default",
        "stage": "$default",
        "time": "01/Jan/2026:00:00:00 +0000",
        "timeEpoch": 1_767_225_600_000_u64
    });
    if let Some(arn) = user_arn {
        let account = arn.split(':').nth(4).unwrap_or_default();
        context["authorizer"] = json!({"iam": {
            "accessKey": "AKIAEXAMPLE", "accountId": account, "callerId": "AIDAEXAMPLE",
            "cognitoIdentity": null, "principalOrgId": null, "userArn": arn, "userId": "AIDAEXAMPLE"}});
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "clawkeepertest.lambda-url.us-east-1.on.aws"},
        "requestContext": context,
        "body": body,
        "isBase64Encoded": false
    })
}

/// The stand-in, listening on a loopback port until dropped with the test.
pub struct FunctionUrlFrontEnd {
    addr: String,
    forwarded: Arc<Mutex<Vec<Value>>>,
}

impl FunctionUrlFrontEnd {
    /// Serves `function` to requests signed by one of `signers`.
    pub fn start(signers: Vec<Signer>, function: Arc<Mutex<FunctionProcess>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the function URL stand-in");
        let addr = listener.local_addr().expect("local addr").to_string();
        let forwarded: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (signers, seen) = (Arc::new(signers), Arc::clone(&forwarded));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (signers, function, seen) = (Arc::clone(&signers), Arc::clone(&function), Arc::clone(&seen));
                thread::spawn(move || serve_connection(stream, |request| answer(request, &signers, &function, &seen)));
            }
        });
        Self { addr, forwarded }
    }

    /// `http://127.0.0.1:<port>/`, as a function URL ends with `/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The events handed to the function so far (signed requests only).
    pub fn forwarded(&self) -> Vec<Value> {
        self.forwarded.lock().expect("forwarded").clone()
    }
}

fn answer(
    request: &Message,
    signers: &[Signer],
    function: &Mutex<FunctionProcess>,
    seen: &Mutex<Vec<Value>>,
) -> Answer {
    let signer = match verify(request, signers) {
        Ok(signer) => signer,
        Err(why) => {
            return (
                "403 Forbidden",
                vec![],
                json!({"Message": why}).to_string().into_bytes(),
            );
        }
    };
    let method = request.start.split_whitespace().next().unwrap_or("");
    let event = url_event(method, &String::from_utf8_lossy(&request.body), Some(&signer.arn));
    seen.lock().expect("forwarded").push(event.clone());
    let outcome = function
        .lock()
        .expect("function process")
        .invoke_within(&event, Duration::from_secs(300));
    let Invocation::Ok(response) = outcome else {
        // What Lambda answers when the function fails instead of answering.
        return (
            "502 Bad Gateway",
            vec![],
            json!({"Message": "Internal Server Error"}).to_string().into_bytes(),
        );
    };
    let status = match response["statusCode"].as_u64() {
        Some(200) => "200 OK",
        Some(400) => "400 Bad Request",
        Some(403) => "403 Forbidden",
        Some(404) => "404 Not Found",
        Some(405) => "405 Method Not Allowed",
        Some(409) => "409 Conflict",
        Some(501) => "501 Not Implemented",
        Some(503) => "503 Service Unavailable",
        _ => "500 Internal Server Error",
    };
    let body = response["body"].as_str().unwrap_or_default().as_bytes().to_vec();
    (status, vec![], body)
}

/// The signer whose SigV4 signature `request` carries, or why there is none: the signature is
/// computed again with the signer's secret over what the request says it signed, and compared.
fn verify<'a>(request: &Message, signers: &'a [Signer]) -> Result<&'a Signer, String> {
    let authorization = request
        .header("authorization")
        .ok_or("Forbidden: no Authorization header")?;
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("Forbidden: not a SigV4 signature")?;
    let field = |name: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(name))
            .ok_or(format!("Forbidden: no {name} in the signature"))
    };
    let scope: Vec<&str> = field("Credential=")?.split('/').collect();
    let [key, _, region, service, "aws4_request"] = scope[..] else {
        return Err(format!("Forbidden: bad credential scope {scope:?}"));
    };
    if service != "lambda" {
        return Err(format!("Forbidden: signed for {service}, not lambda"));
    }
    let signer = signers
        .iter()
        .find(|s| s.access_key == key)
        .ok_or(format!("The security token included in the request is invalid ({key})"))?;
    let date = request.header("x-amz-date").ok_or("Forbidden: no X-Amz-Date")?;
    let time = amz_date(date).ok_or(format!("Forbidden: bad X-Amz-Date {date:?}"))?;
    let token = request.header("x-amz-security-token").map(str::to_string);
    let identity = Credentials::new(key, &signer.secret, token, None, "function-url-stand-in").into();
    // What the client signed, as it sent it; the signer adds the date and token itself.
    let signed = field("SignedHeaders=")?;
    let headers: Vec<(&str, &str)> = signed
        .split(';')
        .filter(|h| !matches!(*h, "x-amz-date" | "x-amz-security-token"))
        .map(|h| (h, request.header(h).unwrap_or("")))
        .collect();
    let mut start = request.start.split_whitespace();
    let (method, path) = (start.next().unwrap_or(""), start.next().unwrap_or("/"));
    let uri = format!("http://{}{path}", request.header("host").unwrap_or("localhost"));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("Forbidden: {e}"))?
        .into();
    let signable = SignableRequest::new(method, &uri, headers.into_iter(), SignableBody::Bytes(&request.body))
        .map_err(|e| format!("Forbidden: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("Forbidden: {e}"))?
        .into_parts();
    let expected = instructions
        .headers()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.to_string());
    if expected.as_deref() == Some(authorization) {
        Ok(signer)
    } else {
        Err("The request signature we calculated does not match the signature you provided".into())
    }
}

/// `20260101T120000Z` as a time.
fn amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if !text.is_ascii() || b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    let secs = u64::try_from(parse_rfc3339(&rfc3339)?).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}
