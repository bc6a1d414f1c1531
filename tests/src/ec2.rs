//! moto's EC2 Query API called directly (no EC2 SDK in this workspace): the VPC, subnet and
//! security group an awsvpc gateway service runs in.

use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, NetworkConfiguration};

use crate::Moto;

/// Calls moto's EC2 Query API and returns the XML answer, which must be a 200.
pub fn query(moto: &Moto, params: &[(&str, &str)]) -> String {
    let mut body = String::from("Version=2016-11-15");
    for (name, value) in params {
        body.push_str(&format!("&{name}={}", value.replace('/', "%2F")));
    }
    let answer = moto.call(
        "ec2",
        &[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
        &body,
    );
    String::from_utf8_lossy(&answer.body).to_string()
}

/// The text of the first `<tag>` in `xml`.
pub fn xml_value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find('<').expect("closing tag") + start;
    xml[start..end].to_string()
}

/// A subnet and a security group of a VPC made for the gateway.
#[derive(Debug, Clone)]
pub struct Network {
    pub subnet: String,
    pub group: String,
}

impl Network {
    /// A new VPC (DNS hostnames on) with one subnet and one security group.
    pub fn create(moto: &Moto) -> Self {
        let vpc = xml_value(
            &query(moto, &[("Action", "CreateVpc"), ("CidrBlock", "10.42.0.0/16")]),
            "vpcId",
        );
        // moto's awsvpc RunTask answers 500 in a VPC without DNS hostnames (its ENI then lacks the private
        // DNS name the task attachment reads); the default VPC has them, a new one must turn them on.
        query(
            moto,
            &[
                ("Action", "ModifyVpcAttribute"),
                ("VpcId", &vpc),
                ("EnableDnsHostnames.Value", "true"),
            ],
        );
        let subnet = xml_value(
            &query(
                moto,
                &[
                    ("Action", "CreateSubnet"),
                    ("VpcId", &vpc),
                    ("CidrBlock", "10.42.1.0/24"),
                ],
            ),
            "subnetId",
        );
        let group = xml_value(
            &query(
                moto,
                &[
                    ("Action", "CreateSecurityGroup"),
                    ("VpcId", &vpc),
                    ("GroupName", "openclaw-gateway"),
                    ("GroupDescription", "gateway"),
                ],
            ),
            "groupId",
        );
        Self { subnet, group }
    }

    /// The awsvpc network configuration of a task in this subnet and group, no public IP.
    pub fn configuration(&self) -> NetworkConfiguration {
        NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(&self.subnet)
                    .security_groups(&self.group)
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .expect("vpc configuration"),
            )
            .build()
    }
}
