"""The worker's network: the user's subnets and security group, or a small VPC of our own.

A made VPC has two public subnets that give tasks public IPs (to pull the image and reach
AWS APIs), and an S3 gateway endpoint so the heavy traffic (assets, videos) stays off the
internet gateway. No NAT gateway: it would bill about $33 a month while the stage is idle.
"""

from __future__ import annotations

from typing import Any

CREATE_NETWORK = "CreateNetwork"
SUBNETS_PARAMETER = "SubnetIds"
SECURITY_GROUP_PARAMETER = "SecurityGroupId"
ASSIGN_PUBLIC_IP_PARAMETER = "AssignPublicIp"
_CIDR = "10.42.0.0/16"
_SUBNETS = (("PublicSubnetA", 0, "10.42.0.0/20"), ("PublicSubnetB", 1, "10.42.16.0/20"))


def parameters() -> dict[str, Any]:
    return {
        SUBNETS_PARAMETER: {
            "Type": "CommaDelimitedList",
            "Default": "",
            "Description": "Existing subnets for worker tasks; empty makes a small VPC",
        },
        SECURITY_GROUP_PARAMETER: {
            "Type": "String",
            "Default": "",
            "Description": "Security group for worker tasks (with SubnetIds; egress only)",
        },
        ASSIGN_PUBLIC_IP_PARAMETER: {
            "Type": "String",
            "Default": "false",
            "AllowedValues": ["true", "false"],
            "Description": "Give tasks in SubnetIds public IPs (no NAT or endpoints there)",
        },
    }


def conditions() -> dict[str, Any]:
    return {CREATE_NETWORK: {"Fn::Equals": [{"Fn::Join": ["", {"Ref": SUBNETS_PARAMETER}]}, ""]}}


def resources(prefix: str) -> dict[str, Any]:
    """VPC, internet gateway, public route table, two subnets, S3 endpoint, security group."""

    def tagged(name: str) -> list[dict[str, str]]:
        return [{"Key": "Name", "Value": f"{prefix}-{name}"}]

    made: dict[str, Any] = {
        "Vpc": {
            "Type": "AWS::EC2::VPC",
            "Properties": {
                "CidrBlock": _CIDR,
                "EnableDnsHostnames": True,
                "EnableDnsSupport": True,
                "Tags": tagged("vpc"),
            },
        },
        "InternetGateway": {
            "Type": "AWS::EC2::InternetGateway",
            "Properties": {"Tags": tagged("igw")},
        },
        "InternetGatewayAttachment": {
            "Type": "AWS::EC2::VPCGatewayAttachment",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "InternetGatewayId": {"Ref": "InternetGateway"},
            },
        },
        "PublicRouteTable": {
            "Type": "AWS::EC2::RouteTable",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "Tags": tagged("public")},
        },
        "PublicDefaultRoute": {
            "Type": "AWS::EC2::Route",
            "DependsOn": "InternetGatewayAttachment",
            "Properties": {
                "RouteTableId": {"Ref": "PublicRouteTable"},
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": {"Ref": "InternetGateway"},
            },
        },
        "S3GatewayEndpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "ServiceName": {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"},
                "VpcEndpointType": "Gateway",
                "RouteTableIds": [{"Ref": "PublicRouteTable"}],
            },
        },
        "WorkerSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "CloudBurst worker tasks: no inbound, all outbound",
                "VpcId": {"Ref": "Vpc"},
                "SecurityGroupEgress": [
                    {"IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "AWS APIs"}
                ],
                "Tags": tagged("worker"),
            },
        },
    }
    for name, zone, cidr in _SUBNETS:
        made[name] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "CidrBlock": cidr,
                "AvailabilityZone": {"Fn::Select": [zone, {"Fn::GetAZs": ""}]},
                "MapPublicIpOnLaunch": True,
                "Tags": tagged(name.lower()),
            },
        }
        made[f"{name}RouteTableAssociation"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {"SubnetId": {"Ref": name}, "RouteTableId": {"Ref": "PublicRouteTable"}},
        }
    for resource in made.values():
        resource["Condition"] = CREATE_NETWORK
    return made


def subnets_value() -> dict[str, Any]:
    """The workers' subnets, comma-separated (the Lambdas' CLOUDBURST_SUBNETS)."""
    return {
        "Fn::If": [
            CREATE_NETWORK,
            {"Fn::Join": [",", [{"Ref": name} for name, _, _ in _SUBNETS]]},
            {"Fn::Join": [",", {"Ref": SUBNETS_PARAMETER}]},
        ]
    }


def security_group_value() -> dict[str, Any]:
    return {
        "Fn::If": [
            CREATE_NETWORK,
            {"Ref": "WorkerSecurityGroup"},
            {"Ref": SECURITY_GROUP_PARAMETER},
        ]
    }


def assign_public_ip_value() -> dict[str, Any]:
    return {"Fn::If": [CREATE_NETWORK, "true", {"Ref": ASSIGN_PUBLIC_IP_PARAMETER}]}
