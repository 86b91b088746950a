//! The release pins the action's image by digest: `scripts/action-image.sh` (what the release
//! workflow runs) checked both ways on copies of action.yml, and the repository's own
//! action.yml held to the rule (the release rule when HEAD is a release tag).

mod common;

use std::path::Path;
use std::process::Command;

use common::root;

const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn script(args: &[&str]) -> (bool, String) {
    let out = Command::new("bash")
        .arg(root().join("scripts/action-image.sh"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn with_image(dir: &Path, image: &str) -> String {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("  image:"))
        .unwrap()
        .to_string();
    let p = dir.join(format!("action-{}.yml", rand::random::<u32>()));
    std::fs::write(&p, text.replace(&line, &format!("  image: {image}"))).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn a_release_names_the_image_by_digest_never_by_tag() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = format!("docker://ghcr.io/acme/eden@sha256:{DIGEST}");
    let placeholder = "docker://ghcr.io/eden-previews/eden:unreleased";
    for (image, main_ok, release_ok) in [
        (pinned.as_str(), true, true),
        (placeholder, true, false),
        ("docker://ghcr.io/acme/eden:v1", false, false),
        ("docker://ghcr.io/acme/eden:v1.2.3", false, false),
        ("docker://ghcr.io/acme/eden:latest", false, false),
        (
            &format!("docker://ghcr.io/acme/eden:v1@sha256:{DIGEST}"),
            false,
            false,
        ),
        (
            &format!("docker://ghcr.io/acme/eden@sha256:{}", &DIGEST[1..]),
            false,
            false,
        ),
        ("Dockerfile", false, false),
    ] {
        let f = with_image(dir.path(), image);
        let (ok, text) = script(&["check", &f]);
        assert_eq!(ok, main_ok, "main, {image}: {text}");
        let (ok, text) = script(&["check", "--release", &f]);
        assert_eq!(ok, release_ok, "release, {image}: {text}");
        if !release_ok {
            assert!(text.contains("must name the image by digest"), "{text}");
        }
    }

    // what the release workflow does: pin the placeholder, and the result passes the release rule
    let f = with_image(dir.path(), placeholder);
    let (ok, text) = script(&["pin", &format!("ghcr.io/acme/eden@sha256:{DIGEST}"), &f]);
    assert!(ok, "{text}");
    let pinned_text = std::fs::read_to_string(&f).unwrap();
    assert!(pinned_text.contains(&format!("  image: {pinned}\n")));
    assert!(script(&["check", "--release", &f]).0);
    // only `runs.image` changed
    let original = std::fs::read_to_string(root().join("action.yml")).unwrap();
    assert_eq!(
        pinned_text
            .lines()
            .filter(|l| !l.starts_with("  image:"))
            .collect::<Vec<_>>(),
        original
            .lines()
            .filter(|l| !l.starts_with("  image:"))
            .collect::<Vec<_>>()
    );
    // a tag is refused by pin itself
    let (ok, text) = script(&["pin", "ghcr.io/acme/eden:v1", &f]);
    assert!(
        !ok && text.contains("is not ghcr.io/<owner>/eden@sha256"),
        "{text}"
    );
}

#[test]
fn the_repositorys_action_yml_follows_the_rule() {
    let action = root().join("action.yml");
    let action = action.to_str().unwrap();
    let (ok, text) = script(&["check", action]);
    assert!(ok, "{text}");
    // On a release commit (HEAD carries a vX.Y.Z tag) the stricter rule applies.
    let tags = Command::new("git")
        .args(["tag", "--points-at", "HEAD"])
        .current_dir(root())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let release = tags.lines().any(|t| {
        let v: Vec<&str> = t.trim_start_matches('v').split('.').collect();
        t.starts_with('v') && v.len() == 3 && v.iter().all(|p| p.parse::<u32>().is_ok())
    });
    if release {
        let (ok, text) = script(&["check", "--release", action]);
        assert!(ok, "a release commit: {text}");
    }
}

#[test]
fn the_release_workflow_pins_attests_and_smoke_tests() {
    let wf = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    for want in [
        "ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/eden",
        "platforms: linux/amd64,linux/arm64",
        "actions/attest-build-provenance@",
        "subject-digest: ${{ steps.build.outputs.digest }}",
        "scripts/action-image.sh pin \"$IMAGE_REF\" action.yml",
        "scripts/action-image.sh check --release action.yml",
        "git tag -f \"$major\"",
        "uses: ./",
    ] {
        assert!(wf.contains(want), "release.yml lacks {want:?}");
    }
}

#[test]
fn the_prerequisites_stack_opens_the_alb_to_previews_and_says_what_it_made() {
    let cfn = std::fs::read_to_string(root().join("docs/aws-prerequisites.cfn.yml")).unwrap();
    for want in [
        "FromPort: 443, ToPort: 443, CidrIp: 0.0.0.0/0",
        "FromPort: 443, ToPort: 443, CidrIpv6: \"::/0\"",
        "FromPort: 80, ToPort: 80, CidrIp: 0.0.0.0/0",
        "Type: AWS::EC2::SecurityGroupIngress",
        "SourceSecurityGroupId: !Ref AlbSecurityGroup",
        "FromPort: !Ref ContainerPort",
    ] {
        assert!(cfn.contains(want), "template lacks {want:?}");
    }
    let outputs = &cfn[cfn.find("\nOutputs:").unwrap()..];
    for o in [
        "MasterAlbArn",
        "HttpsListenerArn",
        "AlbSecurityGroupId",
        "DynamicZoneId",
        "DynamicZoneName",
        "EnvironmentsBucketName",
        "StateTableName",
        "RoleArn",
        "ProfileSetup",
    ] {
        assert!(outputs.contains(&format!("  {o}:")), "no output {o}");
    }
    // the quickstart uses the stack instead of asking for what it creates
    let qs = std::fs::read_to_string(root().join("docs/quickstart.md")).unwrap();
    assert!(qs.contains("aws-prerequisites.cfn.yml") && qs.contains("ProfileSetup"));
    assert!(!qs.contains("Optionally, an **S3 bucket**"));
    assert!(!qs.contains("The DynamoDB table is created on first use"));
}
