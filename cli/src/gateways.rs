//! `clawkeeper gateways add --from-json FILE`: the gateway object read from a file or stdin, and
//! the `register` request made of it. The object goes as it was written: the control function
//! validates it (unknown keys are errors there) and fills in its defaults.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::CliError;
use crate::args::FromJson;

/// The most a gateway object may take: a few hundred bytes in practice. A bigger input is the
/// wrong file, and is said so instead of being read whole.
const MAX_BYTES: u64 = 64 * 1024;

/// The `register` request of `from`; `stdin` is read when the file is `-`. A missing, unreadable
/// or malformed input is [`CliError::Input`] (exit 2), before any AWS call.
pub fn register_from_json(from: &FromJson, stdin: impl Read) -> Result<Value, CliError> {
    let named = if from.file == Path::new("-") {
        "stdin".to_string()
    } else {
        from.file.display().to_string()
    };
    let fail = |what: String| CliError::Input(format!("--from-json {named}: {what}"));
    let mut text = String::new();
    let read = if from.file == Path::new("-") {
        stdin.take(MAX_BYTES + 1).read_to_string(&mut text)
    } else {
        std::fs::File::open(&from.file).and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text))
    };
    read.map_err(|e| fail(format!("could not read it: {e}")))?;
    if text.len() as u64 > MAX_BYTES {
        return Err(fail(format!(
            "larger than {} KiB: not one gateway object",
            MAX_BYTES / 1024
        )));
    }
    let gateway = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(gateway)) => gateway,
        Ok(Value::Array(_)) => {
            return Err(fail(
                "an array; give one gateway object, one element of CLAWKEEPER_GATEWAYS".into(),
            ));
        }
        Ok(_) => return Err(fail("not a JSON object; give one gateway object".into())),
        Err(e) => return Err(fail(format!("not JSON: {e}"))),
    };
    Ok(crate::request::register(gateway, from.owner_email.clone()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;

    fn from(file: &str, owner_email: Option<&str>) -> FromJson {
        FromJson {
            file: file.into(),
            owner_email: owner_email.map(str::to_string),
        }
    }

    /// A file of its own under the system's temp dir, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &str) -> Self {
            let path = std::env::temp_dir().join(format!("clawkeeper-cli-{}-{name}", std::process::id()));
            std::fs::write(&path, contents).expect("write the temp file");
            Self(path)
        }

        fn from(&self, owner_email: Option<&str>) -> FromJson {
            from(self.0.to_str().expect("UTF-8 temp path"), owner_email)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn input_error(result: Result<Value, CliError>) -> String {
        match result {
            Err(CliError::Input(message)) => message,
            other => panic!("not an input error: {other:?}"),
        }
    }

    #[test]
    fn the_object_is_sent_as_written_from_a_file_or_stdin() {
        let object = r#"{"id":"lab","cluster":"openclaw","task_family":"lab-gw","state_dir":"state","extra":1}"#;
        let file = TempFile::new("lab.json", object);
        let expected = json!({
            "action": "register",
            "gateway": {"id": "lab", "cluster": "openclaw", "task_family": "lab-gw", "state_dir": "state", "extra": 1},
        });
        let sent = register_from_json(&file.from(None), std::io::empty()).expect("request");
        assert_eq!(sent, expected);
        let sent = register_from_json(&from("-", None), object.as_bytes()).expect("request");
        assert_eq!(sent, expected);
        // --owner-email beside the file goes beside the object, not into it.
        let sent = register_from_json(&from("-", Some("me@example.com")), object.as_bytes()).expect("request");
        assert_eq!(sent["owner_email"], "me@example.com");
        assert_eq!(sent["gateway"], expected["gateway"]);
        // A file named `-` is only ever stdin; a real file is never read from stdin.
        let sent = register_from_json(&file.from(None), r#"{"id":"other"}"#.as_bytes()).expect("request");
        assert_eq!(sent["gateway"]["id"], "lab");
    }

    #[test]
    fn a_wrong_input_says_which_and_why() {
        let missing = input_error(register_from_json(
            &from("/nonexistent/lab.json", None),
            std::io::empty(),
        ));
        assert!(
            missing.starts_with("--from-json /nonexistent/lab.json: could not read it"),
            "{missing}"
        );
        for (input, expected) in [
            ("", "--from-json stdin: not JSON"),
            ("{\"id\":", "--from-json stdin: not JSON"),
            (
                r#"[{"id":"lab"}]"#,
                "an array; give one gateway object, one element of CLAWKEEPER_GATEWAYS",
            ),
            (r#""lab""#, "not a JSON object"),
        ] {
            let message = input_error(register_from_json(&from("-", None), input.as_bytes()));
            assert!(message.contains(expected), "{input:?}: {message}");
        }
        let huge = format!("{{\"id\":\"{}\"}}", "x".repeat(MAX_BYTES as usize));
        let message = input_error(register_from_json(&from("-", None), huge.as_bytes()));
        assert!(message.contains("larger than 64 KiB"), "{message}");
    }
}
