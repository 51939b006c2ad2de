//! STS and IAM through the official AWS SDK for Rust against the simulator.

mod support;

use aws_sdk_iam::error::ProvideErrorMetadata;
use support::TestSim;

#[tokio::test]
async fn get_caller_identity_default_key() {
    let t = TestSim::start().await;
    let sts = aws_sdk_sts::Client::new(&t.config().await);
    let id = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(id.account(), Some("123456789012"));
    assert_eq!(
        id.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox")
    );
    assert_eq!(id.user_id(), Some("AROASIMULATEDCONVOXAD:convox"));
    let counts = t.handle.request_counts();
    assert_eq!(counts.get("sts:GetCallerIdentity"), Some(&1));
    t.handle.shutdown().await;
}

#[tokio::test]
async fn assume_role_then_call_with_returned_credentials() {
    let t = TestSim::start().await;
    let cfg = t.config().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let role = iam
        .create_role()
        .role_name("Deployer")
        .path("/teams/platform/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(
        role.arn(),
        "arn:aws:iam::123456789012:role/teams/platform/Deployer"
    );
    let sts = aws_sdk_sts::Client::new(&cfg);
    let out = sts
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("ci-run")
        .send()
        .await
        .unwrap();
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::123456789012:assumed-role/Deployer/ci-run"
    );
    assert_eq!(user.assumed_role_id(), format!("{}:ci-run", role.role_id()));
    let c = out.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));
    let cfg2 = t
        .config_with(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
            "us-east-1",
        )
        .await;
    let id = aws_sdk_sts::Client::new(&cfg2)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(id.arn(), Some(user.arn()));
    // The session token is required with the session key.
    let cfg3 = t
        .config_with(c.access_key_id(), c.secret_access_key(), None, "us-east-1")
        .await;
    let err = aws_sdk_sts::Client::new(&cfg3)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidClientTokenId"));
    // Unknown role: AccessDenied.
    let err = sts
        .assume_role()
        .role_arn("arn:aws:iam::123456789012:role/Nope")
        .role_session_name("x1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"));
    t.handle.shutdown().await;
}

/// ListRoles with PathPrefix and Marker/MaxItems pagination, over the 3 roles made plus the
/// default one.
async fn list_roles_paged(iam: &aws_sdk_iam::Client) {
    let page = iam
        .list_roles()
        .path_prefix("/nodes/")
        .max_items(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.roles().len(), 1);
    assert!(page.is_truncated());
    let page2 = iam
        .list_roles()
        .path_prefix("/nodes/")
        .max_items(1)
        .marker(page.marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page2.roles().len(), 1);
    assert!(!page2.is_truncated());
    assert_ne!(page.roles()[0].role_name(), page2.roles()[0].role_name());
    let all = iam.list_roles().send().await.unwrap();
    assert_eq!(all.roles().len(), 4); // 3 + the default role
}

#[tokio::test]
async fn iam_role_lifecycle_paths_and_errors() {
    let t = TestSim::start().await;
    let iam = aws_sdk_iam::Client::new(&t.config().await);
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    for (name, path) in [
        ("NodeA", "/nodes/"),
        ("NodeB", "/nodes/"),
        ("Other", "/x/y/"),
    ] {
        iam.create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(doc)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("team")
                    .value("ops")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let r = iam
        .get_role()
        .role_name("NodeA")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(r.path(), "/nodes/");
    assert_eq!(r.arn(), "arn:aws:iam::123456789012:role/nodes/NodeA");
    // IAM returns the trust policy URL-encoded.
    let decoded = percent_decode(r.assume_role_policy_document().unwrap());
    assert_eq!(decoded, doc);
    assert_eq!(r.tags().len(), 1);

    // Duplicate (names are case-insensitive in IAM).
    let err = iam
        .create_role()
        .role_name("nodea")
        .assume_role_policy_document(doc)
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_entity_already_exists_exception());
    // Bad path, bad name, bad document.
    for (name, path, d, code) in [
        ("Ok1", "nodes", doc, "ValidationError"),
        ("bad name", "/", doc, "ValidationError"),
        ("Ok2", "/", "{not json", "MalformedPolicyDocument"),
    ] {
        let err = iam
            .create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(d)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(code), "{name} {path}");
    }

    list_roles_paged(&iam).await;

    iam.delete_role().role_name("NodeA").send().await.unwrap();
    let err = iam.get_role().role_name("NodeA").send().await.unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_no_such_entity_exception());
    let err = iam
        .delete_role()
        .role_name("NodeA")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_no_such_entity_exception());
    let meta = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(meta, Some(404));
    t.handle.shutdown().await;
}

#[tokio::test]
async fn iam_users_and_their_keys() {
    let t = TestSim::start().await;
    let iam = aws_sdk_iam::Client::new(&t.config().await);
    let u = iam
        .create_user()
        .user_name("alice")
        .path("/people/")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(u.arn(), "arn:aws:iam::123456789012:user/people/alice");
    assert!(u.user_id().starts_with("AIDA"));
    let err = iam
        .create_user()
        .user_name("alice")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("EntityAlreadyExists"));
    let err = iam.get_user().user_name("bob").send().await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchEntity"));
    // GetUser without a name from a role session: AWS's ValidationError.
    let err = iam.get_user().send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"));
    // A user's own key: GetUser without a name answers the caller.
    let key = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let cfg = t
        .config_with(
            key.access_key_id(),
            key.secret_access_key(),
            None,
            "us-east-1",
        )
        .await;
    let me = aws_sdk_iam::Client::new(&cfg)
        .get_user()
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(me.user_name(), "alice");
    let id = aws_sdk_sts::Client::new(&cfg)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(id.arn(), Some(u.arn()));
    assert_eq!(id.user_id(), Some(u.user_id()));
    t.handle.shutdown().await;
}

#[tokio::test]
async fn throttling_and_server_errors_on_demand() {
    let t = TestSim::start().await;
    let cfg = t.config().await;
    let sts = aws_sdk_sts::Client::new(&cfg);
    t.settings(|s| {
        s.throttle_rate = 0.001;
        s.throttle_burst = 2.0;
    });
    sts.get_caller_identity().send().await.unwrap();
    sts.get_caller_identity().send().await.unwrap();
    let err = sts.get_caller_identity().send().await.unwrap_err();
    assert_eq!(err.code(), Some("Throttling"));
    t.settings(|s| {
        s.throttle_rate = 0.0;
        s.error_rate = 1.0;
    });
    let iam = aws_sdk_iam::Client::new(&cfg);
    let err = iam
        .create_role()
        .role_name("NeverMade")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceFailure"));
    t.settings(|s| {
        s.error_rate = 0.0;
    });
    // The failed request changed nothing.
    let err = iam
        .get_role()
        .role_name("NeverMade")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchEntity"));
    t.handle.shutdown().await;
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn identities_and_iam_arns_follow_the_request_partition() {
    let t = TestSim::start().await;
    for (region, partition) in [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")] {
        let cfg = t
            .config_with(
                eks_sim_model::DEFAULT_ACCESS_KEY_ID,
                eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
                Some(eks_sim_model::DEFAULT_SESSION_TOKEN),
                region,
            )
            .await;
        let id = aws_sdk_sts::Client::new(&cfg)
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(
            id.arn(),
            Some(&*format!(
                "arn:{partition}:sts::123456789012:assumed-role/ConvoxAdmin/convox"
            ))
        );
        let iam = aws_sdk_iam::Client::new(&cfg);
        let r = iam
            .get_role()
            .role_name("ConvoxAdmin")
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        assert_eq!(
            r.arn(),
            format!("arn:{partition}:iam::123456789012:role/ops/ConvoxAdmin")
        );
        let p = t
            .sim
            .store
            .read(|c| eks_sim_model::iam::lookup_principal(c, r.arn()))
            .unwrap()
            .unwrap();
        assert_eq!(p.arn, r.arn());
    }
    // A role made from a China-region request is the same role seen from us-east-1.
    let cn = t
        .config_with(
            eks_sim_model::DEFAULT_ACCESS_KEY_ID,
            eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
            Some(eks_sim_model::DEFAULT_SESSION_TOKEN),
            "cn-north-1",
        )
        .await;
    let made = aws_sdk_iam::Client::new(&cn)
        .create_role()
        .role_name("CnRole")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(made.arn(), "arn:aws-cn:iam::123456789012:role/CnRole");
    let out = aws_sdk_sts::Client::new(&cn)
        .assume_role()
        .role_arn(made.arn())
        .role_session_name("s1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws-cn:sts::123456789012:assumed-role/CnRole/s1"
    );
    let seen = aws_sdk_iam::Client::new(&t.config().await)
        .get_role()
        .role_name("CnRole")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(seen.arn(), "arn:aws:iam::123456789012:role/CnRole");
    t.handle.shutdown().await;
}

#[tokio::test]
async fn expired_session_credentials_are_refused() {
    let t = TestSim::start().await;
    let cfg = t.config().await;
    let out = aws_sdk_sts::Client::new(&cfg)
        .assume_role()
        .role_arn(eks_sim_model::DEFAULT_ROLE_ARN)
        .role_session_name("short")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    // Age the session instead of waiting 15 minutes.
    t.sim
        .store
        .write(|tx| {
            tx.execute(
                "UPDATE sts_keys SET expires_ms = 1 WHERE access_key_id = ?1",
                [c.access_key_id()],
            )?;
            Ok(())
        })
        .unwrap();
    let cfg2 = t
        .config_with(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
            "us-east-1",
        )
        .await;
    let err = aws_sdk_sts::Client::new(&cfg2)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ExpiredToken"));
    let err = aws_sdk_eks::Client::new(&cfg2)
        .list_clusters()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_eks::error::ProvideErrorMetadata::code(&err),
        Some("ExpiredTokenException")
    );
    t.handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let t = TestSim::start().await;
    let sts = aws_sdk_sts::Client::new(&t.config().await);
    // An idle keep-alive connection must not hold shutdown up.
    sts.get_caller_identity().send().await.unwrap();
    t.settings(|s| {
        s.latency_ms = 400;
    });
    let call = tokio::spawn(async move { sts.get_caller_identity().send().await });
    // Stop once the call is in service (a fixed sleep could race a slow client under load).
    support::until_in_service(&t.handle, "sts:GetCallerIdentity", 2).await;
    let t0 = std::time::Instant::now();
    let addr = t.handle.addr();
    t.handle.shutdown().await;
    let waited = t0.elapsed();
    let out = call.await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
