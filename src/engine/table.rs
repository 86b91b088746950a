//! The state table: creation in the original Generation B layout.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus,
};

use crate::aws::{describe, error_code, Aws};

/// Create the table in the original Generation B layout, and wait until it is ACTIVE.
pub async fn create(aws: &Aws, table: &str) -> Result<()> {
    let attr = |n: &str, t| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
    };
    let ks = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    let res = aws
        .dynamodb
        .create_table()
        .table_name(table)
        .attribute_definitions(attr("type", ScalarAttributeType::S)?)
        .attribute_definitions(attr("name", ScalarAttributeType::S)?)
        .attribute_definitions(attr("kind", ScalarAttributeType::S)?)
        .attribute_definitions(attr("last_updated", ScalarAttributeType::N)?)
        .key_schema(ks("type", KeyType::Hash)?)
        .key_schema(ks("name", KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("kind_last_updated_gsi")
                .key_schema(ks("kind", KeyType::Hash)?)
                .key_schema(ks("last_updated", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    if let Err(e) = res {
        if error_code(&e) != Some("ResourceInUseException") {
            return Err(anyhow!(
                "creating DynamoDB table {table} failed: {}",
                describe(&e)
            ));
        }
    }
    for _ in 0..600 {
        let out = aws
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| anyhow!("describing DynamoDB table {table} failed: {}", describe(&e)))?;
        if out.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!(
        "DynamoDB table {table} did not become ACTIVE within 60 s"
    ))
    .context("creating the state table")
}
