//! The generated STS and IAM wire: parameters decoded with AWS's validation, XML written
//! in the model's member order, the trait served.

use eks_sim_wire::generated::{iam, sts};
use eks_sim_wire::rt::{query::Params, Failure, Timestamp, Violation};

fn params(body: &str) -> Params {
    Params::decode("", body.as_bytes())
}

#[test]
fn missing_required_parameter() {
    let e =
        sts::AssumeRoleInput::decode(&params("Action=AssumeRole&RoleSessionName=s")).unwrap_err();
    assert_eq!(
        e.query_message(),
        "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
    );
    let e = iam::CreateRoleInput::decode(&params(
        "RoleName=r&AssumeRolePolicyDocument=%7B%7D&Tags.member.1.Key=k",
    ))
    .unwrap_err();
    assert_eq!(
        e.query_message(),
        "1 validation error detected: Value null at 'tags.member.value' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn numbers_and_ranges() {
    let e = sts::AssumeRoleInput::decode(&params(
        "RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=s1&DurationSeconds=x",
    ))
    .unwrap_err();
    assert_eq!(
        e.query_message(),
        "Value 'x' at 'durationSeconds' failed to satisfy constraint: Member must be a number"
    );
    let e = sts::AssumeRoleInput::decode(&params(
        "RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=s1&DurationSeconds=60",
    ))
    .unwrap_err();
    assert_eq!(
        e.query_message(),
        "1 validation error detected: Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
    );
    let e = iam::ListRolesInput::decode(&params("MaxItems=1001")).unwrap_err();
    assert_eq!(
        e.query_message(),
        "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000"
    );
    let e =
        iam::GetRoleInput::decode(&params(&format!("RoleName={}", "r".repeat(65)))).unwrap_err();
    assert!(
        matches!(e, Violation::Length { max: Some(64), .. }),
        "{e:?}"
    );
}

#[test]
fn lists_of_structures_in_index_order() {
    let p = params("RoleName=a%2Bb&AssumeRolePolicyDocument=%7B%7D&Tags.member.2.Key=k2&Tags.member.2.Value=v2&Tags.member.1.Key=k1&Tags.member.1.Value=");
    let i = iam::CreateRoleInput::decode(&p).unwrap();
    assert_eq!(i.role_name, "a+b");
    let tags = i.tags.unwrap();
    assert_eq!((tags[0].key.as_str(), tags[0].value.as_str()), ("k1", ""));
    assert_eq!(tags[1].key, "k2");
    assert_eq!(
        iam::CreateRoleInput::decode(&params("RoleName=a&AssumeRolePolicyDocument=x&Tags="))
            .unwrap()
            .tags,
        Some(vec![])
    );
    assert_eq!(
        iam::CreateRoleInput::decode(&params("RoleName=a&AssumeRolePolicyDocument=x"))
            .unwrap()
            .tags,
        None
    );
}

struct Fake;

impl sts::Sts for Fake {
    type Ctx = str;
    fn get_caller_identity(
        &self,
        ctx: &str,
        _: sts::GetCallerIdentityInput,
    ) -> Result<sts::GetCallerIdentityOutput, sts::StsError> {
        Ok(sts::GetCallerIdentityOutput {
            user_id: Some("AIDA<&>".into()),
            account: Some(ctx.to_string()),
            arn: Some("arn:aws:iam::123456789012:user/u".into()),
        })
    }
    fn assume_role(
        &self,
        _: &str,
        i: sts::AssumeRoleInput,
    ) -> Result<sts::AssumeRoleOutput, sts::StsError> {
        Err(sts::StsError::from_code(
            "MalformedPolicyDocument",
            0,
            i.role_session_name,
        ))
    }
    fn get_federation_token(
        &self,
        _: &str,
        _: sts::GetFederationTokenInput,
    ) -> Result<sts::GetFederationTokenOutput, sts::StsError> {
        Ok(sts::GetFederationTokenOutput {
            credentials: Some(sts::Credentials {
                access_key_id: "ASIA".into(),
                secret_access_key: "s".into(),
                session_token: "t".into(),
                expiration: Timestamp(1_767_323_045_000),
            }),
            ..Default::default()
        })
    }
}

#[test]
fn serves_the_trait_and_writes_xml() {
    let op = sts::StsOperation::from_name("GetCallerIdentity").unwrap();
    let xml = sts::serve(&Fake, "123456789012", op, &params(""), "rid").unwrap();
    assert_eq!(
        xml,
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
         <UserId>AIDA&lt;&amp;&gt;</UserId><Account>123456789012</Account><Arn>arn:aws:iam::123456789012:user/u</Arn>\
         </GetCallerIdentityResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetCallerIdentityResponse>\n"
    );
    let xml = sts::serve(
        &Fake,
        "1",
        sts::StsOperation::GetFederationToken,
        &params("Name=bob"),
        "r",
    )
    .unwrap();
    assert!(xml.contains("<Credentials><AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2026-01-02T03:04:05Z</Expiration></Credentials>"), "{xml}");
    let r = sts::serve(
        &Fake,
        "1",
        sts::StsOperation::AssumeRole,
        &params("RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=sess"),
        "r",
    );
    match r {
        Err(Failure::Service(e)) => assert_eq!(
            (e.code(), e.status(), e.message(), e.sender_fault()),
            ("MalformedPolicyDocument", 400, "sess", true)
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        sts::serve(&Fake, "1", sts::StsOperation::AssumeRole, &params(""), "r"),
        Err(Failure::Invalid(Violation::Missing { .. }))
    ));
    assert_eq!(
        iam::IamError::from_code("NoSuchEntity", 0, "m").status(),
        404
    );
    assert!(!iam::IamError::from_code("ServiceFailure", 0, "m").sender_fault());
}
