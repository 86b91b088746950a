//! ECR: does the image exist (by tag or digest, in the URI's registry and region)?

use super::fail;
use crate::error::Refusal;
use anyhow::Result;
use aws_sdk_ecr::error::SdkError;
use aws_sdk_ecr::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_sdk_ecr::types::ImageIdentifier;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::{error_code, kind, Aws, AwsErrorKind};
use crate::image::ImageRef;

/// DescribeImages for exactly this image, in its registry and region.
async fn describe_image(
    aws: &Aws,
    image: &ImageRef,
) -> std::result::Result<DescribeImagesOutput, SdkError<DescribeImagesError, HttpResponse>> {
    let id = ImageIdentifier::builder()
        .set_image_tag(image.tag.clone())
        .set_image_digest(image.digest.clone())
        .build();
    aws.ecr(&image.region)
        .describe_images()
        .registry_id(&image.registry_id)
        .repository_name(&image.repository)
        .image_ids(id)
        .send()
        .await
}

pub async fn check_image(aws: &Aws, image: &ImageRef) -> Result<()> {
    let out = describe_image(aws, image).await;
    let what = image
        .tag
        .as_ref()
        .map(|t| format!("tag {t}"))
        .unwrap_or_else(|| format!("digest {}", image.digest.as_deref().unwrap_or("")));
    match out {
        Ok(o) if !o.image_details().is_empty() => Ok(()),
        Ok(_) => Err(Refusal::new(
            format!("image {image} not found: repository {} has no {what}", image.repository),
            "push the image first",
        )
        .into()),
        Err(e) => match error_code(&e) {
            Some("ImageNotFoundException") => Err(Refusal::new(
                format!(
                    "image {image} not found: repository {} (registry {}, region {}) has no {what}",
                    image.repository, image.registry_id, image.region
                ),
                "push the image first",
            )
            .into()),
            Some("RepositoryNotFoundException") => Err(Refusal::new(
                format!(
                    "image {image} not found: there is no ECR repository {} in registry {} (region {})",
                    image.repository, image.registry_id, image.region
                ),
                "check --image-uri",
            )
            .into()),
            _ if kind(&e) == AwsErrorKind::AccessDenied => Err(Refusal::new(
                format!("checking image {image} was denied"),
                format!(
                    "allow ecr:DescribeImages on arn:aws:ecr:{}:{}:repository/{} for eden's role; when registry {} is another account's, that repository's policy must allow it too (and ecr:BatchGetImage, ecr:GetDownloadUrlForLayer for the task execution role)",
                    image.region, image.registry_id, image.repository, image.registry_id,
                ),
            )
            .into()),
            _ => Err(fail("ecr:DescribeImages", format!("checking image {image} in ECR"), &e)),
        },
    }
}

/// Whether the image exists (`false` for a missing tag, digest or repository); other errors
/// (access, throttling) are errors. For waiting on an image that is still being built.
pub async fn image_exists(aws: &Aws, image: &ImageRef) -> Result<bool> {
    let out = describe_image(aws, image).await;
    match out {
        Ok(o) => Ok(!o.image_details().is_empty()),
        Err(e) => match error_code(&e) {
            Some("ImageNotFoundException") | Some("RepositoryNotFoundException") => Ok(false),
            _ => Err(fail(
                "ecr:DescribeImages",
                format!("checking image {image} in ECR"),
                &e,
            )),
        },
    }
}
