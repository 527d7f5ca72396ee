//! The AWS credential chain, completed.
//!
//! `object_store` reads keys from the environment, web identity (IRSA), the ECS task role and
//! the instance metadata service, but not the shared credentials and config files that
//! `AWS_PROFILE` selects. AWS's own chain looks at those right after the environment, so this
//! module reads a profile's static keys from them. It is written by hand because the AWS SDK's
//! `aws-config` would add some 60 crates for an INI lookup; profiles that assume roles or use
//! SSO are not covered and fall through to the rest of the chain.

use std::path::PathBuf;
use std::sync::{Arc, Once};

use object_store::StaticCredentialProvider;
use object_store::aws::{AwsCredential, AwsCredentialProvider};

/// Installs rustls's `ring` provider once, which HTTPS to object storage needs.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn home_file(variable: &str, default: &str) -> Option<PathBuf> {
    match std::env::var(variable) {
        Ok(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => std::env::var("HOME")
            .ok()
            .map(|home| PathBuf::from(home).join(default)),
    }
}

/// The key/value pairs of one `[section]` of an INI file.
fn ini_section(text: &str, section: &str) -> Option<Vec<(String, String)>> {
    let mut inside = false;
    let mut found = false;
    let mut pairs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            found |= inside;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            pairs.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    found.then_some(pairs)
}

/// Static keys of the selected profile, when the environment has none of its own.
pub fn profile_provider() -> Option<AwsCredentialProvider> {
    if std::env::var("AWS_ACCESS_KEY_ID").is_ok_and(|k| !k.is_empty()) {
        return None;
    }
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let credentials = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| ini_section(&text, &profile));
    let config_section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    let config = home_file("AWS_CONFIG_FILE", ".aws/config")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| ini_section(&text, &config_section));
    let get = |key: &str| {
        credentials
            .iter()
            .chain(config.iter())
            .flatten()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let key_id = get("aws_access_key_id")?;
    let secret_key = get("aws_secret_access_key")?;
    Some(Arc::new(StaticCredentialProvider::new(AwsCredential {
        key_id,
        secret_key,
        token: get("aws_session_token"),
    })))
}

#[cfg(test)]
mod tests {
    use super::ini_section;

    #[test]
    fn reads_profiles() {
        let text =
            "[default]\naws_access_key_id = A\n[profile dev]\n# comment\nAWS_SECRET_ACCESS_KEY=S\n";
        assert_eq!(
            ini_section(text, "default").unwrap(),
            vec![("aws_access_key_id".into(), "A".into())]
        );
        assert_eq!(
            ini_section(text, "profile dev").unwrap(),
            vec![("aws_secret_access_key".into(), "S".into())]
        );
        assert!(ini_section(text, "other").is_none());
    }
}
