//! Read-only probes for `eden doctor`: can an S3 object be read, and what is a table's key?

use super::fail;
use anyhow::{anyhow, Result};
use aws_sdk_dynamodb::types::{KeyType, ScalarAttributeType};

use super::{error_code, kind, Aws, AwsErrorKind};

/// What a GetObject answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectRead {
    Found,
    /// 404: the key does not exist (and the caller may list the bucket).
    Missing,
    /// 403: denied — on a key that does not exist, S3 answers 403 instead of 404 when the
    /// caller lacks s3:ListBucket.
    Forbidden,
    NoBucket,
}

pub async fn read_object(aws: &Aws, bucket: &str, key: &str) -> Result<ObjectRead> {
    match aws.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(ObjectRead::Found),
        Err(e) if error_code(&e) == Some("NoSuchBucket") => Ok(ObjectRead::NoBucket),
        Err(e) => match kind(&e) {
            AwsErrorKind::NotFound => Ok(ObjectRead::Missing),
            AwsErrorKind::AccessDenied => Ok(ObjectRead::Forbidden),
            _ => Err(fail(
                "s3:GetObject",
                format!("s3:GetObject s3://{bucket}/{key}"),
                &e,
            )),
        },
    }
}

/// A table's key: (partition key, its type), (sort key, its type); `None` if there is no table.
pub type KeySchema = Vec<(String, KeyType, Option<ScalarAttributeType>)>;

pub async fn table_key(aws: &Aws, table: &str) -> Result<Option<KeySchema>> {
    match aws.dynamodb.describe_table().table_name(table).send().await {
        Ok(o) => {
            let t = o
                .table
                .ok_or_else(|| anyhow!("dynamodb:DescribeTable {table} returned nothing"))?;
            let types = t.attribute_definitions();
            Ok(Some(
                t.key_schema()
                    .iter()
                    .map(|k| {
                        let ty = types
                            .iter()
                            .find(|a| a.attribute_name() == k.attribute_name())
                            .map(|a| a.attribute_type().clone());
                        (k.attribute_name().to_string(), k.key_type().clone(), ty)
                    })
                    .collect(),
            ))
        }
        Err(e) if kind(&e) == AwsErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail(
            "dynamodb:DescribeTable",
            format!("dynamodb:DescribeTable {table}"),
            &e,
        )),
    }
}
