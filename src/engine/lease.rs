//! A lease per (profile, environment), held on the environment's own state item: a conditional
//! UpdateItem with an expiry. Taking it also reads the state (ALL_OLD) in the same round trip.
//! The final state write (PutItem) or DeleteItem of a run releases it, conditioned on ownership.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ReturnValue, ScalarAttributeType, TableStatus,
};
use rand::Rng;

use super::state::{key, EnvState};
use crate::aws::{describe, error_code, Aws};

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// How long a lease is valid if its holder dies without releasing it.
    pub ttl: Duration,
    /// How long to wait for another run's lease before giving up.
    pub wait: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            ttl: Duration::from_secs(600),
            wait: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Lease {
    pub table: String,
    pub profile: String,
    pub environment: String,
    pub owner: String,
    /// The state item as it was before we took the lease (None: no item existed).
    pub previous: Option<EnvState>,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("the DynamoDB table {0} does not exist")]
    TableMissing(String),
    #[error(
        "environment {environment} of profile {profile} is busy: another eden run holds its lease (expires in {expires_in}s); retry later"
    )]
    Busy {
        profile: String,
        environment: String,
        expires_in: u64,
    },
    #[error(transparent)]
    Aws(#[from] anyhow::Error),
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn new_owner() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!(
        "{host}:{}:{:016x}",
        std::process::id(),
        rand::thread_rng().gen::<u64>()
    )
}

/// Take the lease, waiting (bounded) while another run holds it.
pub async fn acquire(
    aws: &Aws,
    table: &str,
    profile: &str,
    environment: &str,
    settings: &LeaseSettings,
) -> Result<Lease, LeaseError> {
    let owner = new_owner();
    let deadline = tokio::time::Instant::now() + settings.wait;
    loop {
        let now = now_secs();
        let res = aws
            .dynamodb
            .update_item()
            .table_name(table)
            .set_key(Some(key(profile, environment)))
            .update_expression(
                "SET lease_owner = :me, lease_expires = :exp, #k = if_not_exists(#k, :kind)",
            )
            .condition_expression("attribute_not_exists(lease_owner) OR lease_expires < :now")
            .expression_attribute_names("#k", "kind")
            .expression_attribute_values(":me", AttributeValue::S(owner.clone()))
            .expression_attribute_values(
                ":exp",
                AttributeValue::N(format!("{:.3}", now + settings.ttl.as_secs_f64())),
            )
            .expression_attribute_values(":now", AttributeValue::N(format!("{now:.3}")))
            .expression_attribute_values(":kind", AttributeValue::S("environment".into()))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match res {
            Ok(out) => {
                let previous = out
                    .attributes
                    .filter(|a| !a.is_empty())
                    .map(|a| EnvState::from_item(&a));
                return Ok(Lease {
                    table: table.to_string(),
                    profile: profile.to_string(),
                    environment: environment.to_string(),
                    owner,
                    previous,
                });
            }
            Err(e) => {
                let expires = e
                    .as_service_error()
                    .and_then(|s| match s {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                            c.item.as_ref()?.get("lease_expires")?.as_n().ok()?.parse::<f64>().ok()
                        }
                        _ => None,
                    })
                    .unwrap_or(now + 1.0);
                match error_code(&e) {
                    Some("ConditionalCheckFailedException") => {
                        if tokio::time::Instant::now() >= deadline {
                            return Err(LeaseError::Busy {
                                profile: profile.to_string(),
                                environment: environment.to_string(),
                                expires_in: (expires - now).max(0.0).ceil() as u64,
                            });
                        }
                        let pause = rand::thread_rng().gen_range(100..400);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                    Some("ResourceNotFoundException") => {
                        return Err(LeaseError::TableMissing(table.to_string()))
                    }
                    _ => {
                        return Err(anyhow!(
                            "taking the lease in DynamoDB table {table} failed: {}",
                            describe(&e)
                        )
                        .into())
                    }
                }
            }
        }
    }
}

impl Lease {
    /// Give the lease back without writing state: restore the item as it was (no item, if
    /// there was none before).
    pub async fn release(&self, aws: &Aws) -> Result<()> {
        if self.previous.is_none() {
            return self.remove(aws).await;
        }
        aws.dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&self.profile, &self.environment)))
            .update_expression("REMOVE lease_owner, lease_expires")
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "releasing the lease on {}/{} failed: {}",
                    self.profile,
                    self.environment,
                    describe(&e)
                )
            })?;
        Ok(())
    }

    /// Write the final state and release the lease in one conditional PutItem.
    pub async fn commit(&self, aws: &Aws, state: &EnvState) -> Result<()> {
        aws.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(state.to_item()))
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "writing the state of {}/{} failed: {}",
                    self.profile,
                    self.environment,
                    describe(&e)
                )
            })?;
        Ok(())
    }

    /// Remove the state item (end of delete), releasing the lease.
    pub async fn remove(&self, aws: &Aws) -> Result<()> {
        aws.dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&self.profile, &self.environment)))
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "removing the state of {}/{} failed: {}",
                    self.profile,
                    self.environment,
                    describe(&e)
                )
            })?;
        Ok(())
    }
}

/// Create the table in the original Generation B layout, and wait until it is ACTIVE.
pub async fn create_table(aws: &Aws, table: &str) -> Result<()> {
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
