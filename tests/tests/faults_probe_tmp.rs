use clawkeeper_tests::fault_proxy::FaultProxy;
use clawkeeper_tests::{FunctionProcess, Moto, clawkeeper_env};
use serde_json::json;
#[tokio::test(flavor = "multi_thread")]
async fn probe() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket("clawkeeper-test-snapshots").send().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("home");
    std::fs::create_dir_all(root.join(".openclaw")).unwrap();
    std::fs::write(root.join(".openclaw/openclaw.json"), "{}").unwrap();
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&json!([{"id":"home","cluster":"openclaw","service":"openclaw-gateway","state_root":root.to_string_lossy()}])));
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    env.push(("AWS_MAX_ATTEMPTS".into(), "3".into()));
    let mut f = FunctionProcess::spawn("snapshot", &env);
    let a = f.invoke(&json!({"gateway":"home","trigger":"manual"}));
    println!("{a:?}");
    for op in proxy.forwarded() { println!("OP {op}"); }
    aws_setup_control(&moto, &proxy).await;
}
async fn aws_setup_control(moto: &Moto, proxy: &FaultProxy) {
    let sdk = moto.sdk_config().await;
    clawkeeper_tests::aws_setup::create_table(&sdk, "clawkeeper-test").await;
    clawkeeper_tests::aws_setup::create_gateway_service(&sdk).await;
    let mut env = moto.aws_env();
    env.extend(clawkeeper_env(&json!([{"id":"home","cluster":"openclaw","service":"openclaw-gateway"}])));
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    let mut c = FunctionProcess::spawn("control", &env);
    let n = proxy.forwarded().len();
    for r in [json!({"action":"status"}), json!({"action":"pause","gateway":"home"}), json!({"action":"resume","gateway":"home"})] {
        let a = c.invoke(&r);
        println!("{r} -> {a:?}");
        let f = proxy.forwarded();
        for op in &f[n..] { println!("CTL {op}"); }
    }
}
