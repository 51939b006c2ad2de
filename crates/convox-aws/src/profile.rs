//! An explicit AWS profile, treated as the AWS CLI treats `--profile`: it must exist in the
//! config or credentials file, and its credentials win over any in the environment.
//!
//! The SDK's default chain reads `AWS_ACCESS_KEY_ID` before any profile, even a profile
//! named explicitly, so a rack installed with `--profile carol` would act as whoever the
//! environment's keys belong to. The adapter therefore builds the credentials provider from
//! the profile itself ([`credentials_for`]), and [`check_profile`] refuses a name the files
//! do not define before anything is called or stored.

use std::borrow::Cow;

// The alias is deprecated in favour of aws-runtime's own name for the same type; one
// dependency fewer is worth the older name.
#[allow(deprecated)]
use aws_config::profile::profile_file::ProfileFiles;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::BehaviorVersion;
use aws_types::os_shim_internal::{Env, Fs};

use crate::AwsError;

/// Whether profile `name` is defined (`[profile NAME]` in the config file, `[NAME]` in the
/// credentials file, at their standard or `AWS_CONFIG_FILE`/`AWS_SHARED_CREDENTIALS_FILE`
/// locations). As in the AWS CLI, an explicit `default` must exist too.
pub async fn check_profile(name: &str) -> Result<(), AwsError> {
    check_profile_in(name, &Fs::real(), &Env::real()).await
}

async fn check_profile_in(name: &str, fs: &Fs, env: &Env) -> Result<(), AwsError> {
    #[allow(deprecated)]
    let set = aws_config::profile::load(
        fs,
        env,
        &ProfileFiles::default(),
        Some(Cow::Owned(name.to_string())),
    )
    .await
    .map_err(|e| AwsError::ProfileFiles {
        profile: name.to_string(),
        detail: e.to_string(),
    })?;
    if set.get_profile(name).is_some() {
        Ok(())
    } else {
        Err(AwsError::ProfileNotFound {
            profile: name.to_string(),
        })
    }
}

/// The credentials of profile `name` alone (keys, `role_arn` + `source_profile`, SSO,
/// `credential_process`), never the environment's.
pub(crate) fn credentials_for(name: &str, region: &str) -> ProfileFileCredentialsProvider {
    let conf = ProviderConfig::default()
        .with_behavior_version(Some(BehaviorVersion::latest()))
        .with_region(Some(aws_config::Region::new(region.to_string())));
    ProfileFileCredentialsProvider::builder()
        .configure(&conf)
        .profile_name(name)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(config: &str, credentials: &str) -> (Fs, Env) {
        let fs = Fs::from_map(
            [
                ("/cfg".to_string(), config.as_bytes().to_vec()),
                ("/creds".to_string(), credentials.as_bytes().to_vec()),
            ]
            .into_iter()
            .collect(),
        );
        let env = Env::from_slice(&[
            ("AWS_CONFIG_FILE", "/cfg"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/creds"),
            ("HOME", "/nowhere"),
        ]);
        (fs, env)
    }

    #[tokio::test]
    async fn a_profile_exists_in_either_file_and_only_there() {
        let (fs, env) = files(
            "[profile carol]\nregion = us-east-1\n[default]\nregion = eu-west-1\n",
            "[dave]\naws_access_key_id = AKIA\naws_secret_access_key = s\n",
        );
        for ok in ["carol", "dave", "default"] {
            assert!(check_profile_in(ok, &fs, &env).await.is_ok(), "{ok}");
        }
        let e = check_profile_in("nope", &fs, &env)
            .await
            .expect_err("no such profile");
        let s = e.to_string();
        assert!(
            s.starts_with("The config profile (nope) could not be found"),
            "{s}"
        );
        assert!(!s.contains('\n'), "{s}");
        // `[carol]` in the config file is not `[profile carol]` (the CLI ignores it too).
        let (fs, env) = files("[carol]\nregion = us-east-1\n", "");
        assert!(check_profile_in("carol", &fs, &env).await.is_err());
        // No files at all: an explicit default is refused like any other name.
        let (fs, env) = files("", "");
        assert!(check_profile_in("default", &fs, &env).await.is_err());
    }
}
