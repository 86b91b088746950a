#!/usr/bin/env python3
"""Seed the AWS emulator like a real account that runs eden.

One "world" per prefix, so parallel tests never share resources:
  * a VPC with two subnets and a security group,
  * an ECS cluster with two reference Fargate services (api, admin), each behind its own
    ALB + target group, with a sidecar container,
  * a common ALB with an HTTPS:443 listener and a wildcard ACM certificate,
  * a Route 53 hosted zone, the environments-JSON bucket, ECR images.

Prints one JSON object on stdout: the eden profile keys for the `api` and `admin` profiles,
plus the names the tests need to read things back.

Usage: seed.py --endpoint http://127.0.0.1:PORT --prefix t1 [--region ap-northeast-1]
"""
import argparse
import hashlib
import json
import sys

import boto3

ACCOUNT = "123456789012"


def client(name, args):
    return boto3.client(
        name,
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def push_image(ecr, repo, tag, seed):
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7023,
                "digest": "sha256:" + hashlib.sha256(seed.encode()).hexdigest(),
            },
            "layers": [],
        }
    )
    out = ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag=tag)
    return out["image"]["imageId"]["imageDigest"]


def reference_service(args, p, kind, port, vpc, subnets, sg, ecs, elb, ecr):
    """A reference Fargate service behind its own ALB and target group."""
    repo = f"{p}/{kind}"
    ecr.create_repository(repositoryName=repo)
    digests = {tag: push_image(ecr, repo, tag, f"{p}-{kind}-{tag}") for tag in ("sha-0", "sha-1", "sha-2")}
    registry = f"{ACCOUNT}.dkr.ecr.{args.region}.amazonaws.com"

    lb = elb.create_load_balancer(
        Name=f"{p}-{kind}-ref", Subnets=subnets, SecurityGroups=[sg], Scheme="internet-facing", Type="application"
    )["LoadBalancers"][0]
    tg = elb.create_target_group(
        Name=f"{p}-{kind}-ref",
        Protocol="HTTP",
        Port=port,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckProtocol="HTTP",
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=10,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=3,
        Matcher={"HttpCode": "200-299"},
    )["TargetGroups"][0]
    elb.modify_target_group_attributes(
        TargetGroupArn=tg["TargetGroupArn"],
        Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "15"},
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "stickiness.type", "Value": "lb_cookie"},
        ],
    )
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )

    td = ecs.register_task_definition(
        family=f"{p}-{kind}-ref",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{p}-{kind}-task",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{p}-{kind}-exec",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        ephemeralStorage={"sizeInGiB": 30},
        volumes=[{"name": "scratch"}],
        containerDefinitions=[
            {
                "name": "app",
                "image": f"{registry}/{repo}:sha-0",
                "essential": True,
                "portMappings": [{"containerPort": port, "protocol": "tcp"}],
                "environment": [{"name": "APP_ENV", "value": "preview"}],
                "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": f"/ecs/{p}-{kind}",
                        "awslogs-region": args.region,
                        "awslogs-stream-prefix": "ecs",
                    },
                },
            },
            {
                "name": "log-router",
                "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
                "essential": False,
            },
        ],
    )["taskDefinition"]

    svc = ecs.create_service(
        cluster=f"{p}-dev",
        serviceName=f"{p}-{kind}-ref",
        taskDefinition=td["taskDefinitionArn"],
        desiredCount=1,
        launchType="FARGATE",
        platformVersion="LATEST",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED"}
        },
        loadBalancers=[{"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": port}],
        deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
        healthCheckGracePeriodSeconds=30,
        propagateTags="SERVICE",
        tags=[{"key": "team", "value": kind}],
    )["service"]
    return {
        "service_arn": svc["serviceArn"],
        "target_group_arn": tg["TargetGroupArn"],
        "task_definition_arn": td["taskDefinitionArn"],
        "repository": repo,
        "images": {tag: f"{registry}/{repo}:{tag}" for tag in digests},
        "digests": {tag: f"{registry}/{repo}@{d}" for tag, d in digests.items()},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--region", default="ap-northeast-1")
    args = ap.parse_args()
    p = args.prefix

    ec2, ecs, elb = client("ec2", args), client("ecs", args), client("elbv2", args)
    r53, s3, ecr, acm = client("route53", args), client("s3", args), client("ecr", args), client("acm", args)

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{args.region}{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in ((1, "a"), (2, "c"))
    ]
    sg = ec2.create_security_group(GroupName=f"{p}-sg", Description="eden test", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=f"{p}-dev")

    zone_name = f"{p}.dev.example.com"
    zone = r53.create_hosted_zone(Name=zone_name, CallerReference=f"{p}-zone")["HostedZone"]
    zone_id = zone["Id"].split("/")[-1]

    cert = acm.request_certificate(DomainName=f"*.{zone_name}", ValidationMethod="DNS")["CertificateArn"]
    common = elb.create_load_balancer(
        Name=f"{p}-common", Subnets=subnets, SecurityGroups=[sg], Scheme="internet-facing", Type="application"
    )["LoadBalancers"][0]
    listener = elb.create_listener(
        LoadBalancerArn=common["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no preview"},
            }
        ],
    )["Listeners"][0]

    # A second, dual-stack shared ALB (eden then adds AAAA records too).
    common6 = elb.create_load_balancer(
        Name=f"{p}-common6", Subnets=subnets, SecurityGroups=[sg], Scheme="internet-facing", Type="application",
        IpAddressType="dualstack",
    )["LoadBalancers"][0]
    elb.create_listener(
        LoadBalancerArn=common6["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )

    bucket = f"{p}-eden-config".lower()
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": args.region})
    s3.put_object(Bucket=bucket, Key="environments.json", Body=b'{"environments": []}', ContentType="application/json")

    refs = {
        kind: reference_service(args, p, kind, port, vpc, subnets, sg, ecs, elb, ecr)
        for kind, port in (("api", 8080), ("admin", 3000))
    }

    def profile(kind):
        return {
            "name_prefix": f"{p}-{kind}",
            "reference_service_arn": refs[kind]["service_arn"],
            "target_cluster": f"{p}-dev",
            "domain_name_prefix": kind,
            "master_alb_arn": common["LoadBalancerArn"],
            "dynamic_zone_id": zone_id,
            "endpoint_s3_bucket_name": bucket,
            "endpoint_s3_key": "environments.json",
            "endpoint_update_key": f"{kind}_endpoint",
            "endpoint_name_prefix": "dev",
            "endpoint_env_type": "preview",
        }

    json.dump(
        {
            "prefix": p,
            "region": args.region,
            "cluster": f"{p}-dev",
            "zone_id": zone_id,
            "zone_name": zone_name,
            "bucket": bucket,
            "listener_arn": listener["ListenerArn"],
            "alb_arn": common["LoadBalancerArn"],
            "alb_dns": common["DNSName"],
            "alb6_arn": common6["LoadBalancerArn"],
            "references": refs,
            "profiles": {"api": profile("api"), "admin": profile("admin")},
        },
        sys.stdout,
        indent=2,
    )
    print()


if __name__ == "__main__":
    main()
