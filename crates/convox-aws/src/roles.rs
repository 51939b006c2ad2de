//! Node roles proven to exist before anything is changed for them: EKS takes an access
//! entry only for a principal IAM has, spelled as IAM spells it, and refuses it only at
//! CreateAccessEntry — after the (irreversible) mode switch.

use crate::error::AwsError;
use crate::Aws;

impl Aws {
    /// IAM GetRole of the role an ARN names (its last path segment): `Ok(Some(arn))` with the
    /// ARN IAM returns (its real path and case), `Ok(None)` when IAM has no such role.
    pub async fn iam_role_arn(&self, role_arn: &str) -> Result<Option<String>, AwsError> {
        let name = role_arn
            .rsplit_once(":role/")
            .map(|(_, p)| p.rsplit('/').next().unwrap_or(p))
            .unwrap_or_default();
        if name.is_empty() {
            return Ok(None);
        }
        match self
            .call("iam:GetRole", || self.iam.get_role().role_name(name).send())
            .await
        {
            Ok(o) => Ok(o.role().map(|r| r.arn().to_string())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.err(e, "-", Some(role_arn))),
        }
    }
}
