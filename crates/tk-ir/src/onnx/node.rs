//! One ONNX node as converters see it: its name, inputs and typed attribute accessors.
//!
//! Every accessor checks the attribute's declared type and returns
//! [`IrError::InvalidNode`] on a mismatch, never a default.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

use crate::{IrError, limits};

/// Most values an `INTS` attribute may hold (shapes, pads and perms are short).
const MAX_ATTRIBUTE_VALUES: usize = 1 << 20;

/// An ONNX node being converted.
#[derive(Debug)]
pub struct OnnxNode<'a> {
    /// The protobuf node.
    pub proto: &'a NodeProto,
    /// The node name, or `<op_type>_<index>` when the model leaves it empty.
    pub name: String,
    /// The ONNX op type.
    pub op_type: &'a str,
}

impl<'a> OnnxNode<'a> {
    /// Wraps a node, generating a name from its op type and position when it has none.
    pub fn new(proto: &'a NodeProto, index: usize) -> OnnxNode<'a> {
        let name = if proto.name.is_empty() {
            format!("{}_{index}", proto.op_type)
        } else {
            proto.name.clone()
        };
        OnnxNode {
            proto,
            name,
            op_type: &proto.op_type,
        }
    }

    /// An [`IrError::InvalidNode`] for this node.
    pub fn invalid(&self, reason: impl Into<String>) -> IrError {
        IrError::InvalidNode {
            op: self.op_type.to_string(),
            node: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// An [`IrError::Unsupported`] for this node.
    pub fn unsupported(&self, feature: impl Into<String>) -> IrError {
        IrError::Unsupported {
            op: self.op_type.to_string(),
            node: self.name.clone(),
            feature: feature.into(),
        }
    }

    /// The name of input `i`, or `None` when it is absent or the empty (omitted) name.
    pub fn input_name(&self, i: usize) -> Option<&'a str> {
        self.proto
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Number of inputs as written (omitted optional inputs included).
    pub fn input_count(&self) -> usize {
        self.proto.input.len()
    }

    fn attr(
        &self,
        name: &str,
        expected: AttributeType,
    ) -> Result<Option<&'a AttributeProto>, IrError> {
        let Some(a) = self.proto.attribute.iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        // Very old exporters leave the type unset; accept the field the caller asks for then.
        if a.r#type != expected as i32 && a.r#type != AttributeType::Undefined as i32 {
            let got = AttributeType::try_from(a.r#type)
                .map(|t| t.as_str_name())
                .unwrap_or("unknown");
            return Err(self.invalid(format!(
                "attribute {name:?} must be {}, got {got}",
                expected.as_str_name()
            )));
        }
        Ok(Some(a))
    }

    /// Whether the attribute is present (of any type).
    pub fn has_attr(&self, name: &str) -> bool {
        self.proto.attribute.iter().any(|a| a.name == name)
    }

    /// An `INT` attribute.
    pub fn get_int(&self, name: &str) -> Result<Option<i64>, IrError> {
        Ok(self.attr(name, AttributeType::Int)?.map(|a| a.i))
    }

    /// An `INT` attribute with a default.
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, IrError> {
        Ok(self.get_int(name)?.unwrap_or(default))
    }

    /// A `FLOAT` attribute with a default; non-finite values are rejected.
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, IrError> {
        let v = self
            .attr(name, AttributeType::Float)?
            .map_or(default, |a| a.f);
        if !v.is_finite() {
            return Err(self.invalid(format!("attribute {name:?} is {v}")));
        }
        Ok(v)
    }

    /// An `INTS` attribute.
    pub fn get_ints(&self, name: &str) -> Result<Option<Vec<i64>>, IrError> {
        let v = self
            .attr(name, AttributeType::Ints)?
            .map(|a| a.ints.clone());
        if let Some(v) = &v
            && v.len() > MAX_ATTRIBUTE_VALUES
        {
            return Err(self.invalid(format!("attribute {name:?} has {} values", v.len())));
        }
        Ok(v)
    }

    /// An `INTS` attribute of non-negative values, as `usize`.
    pub fn get_usizes(&self, name: &str) -> Result<Option<Vec<usize>>, IrError> {
        let Some(v) = self.get_ints(name)? else {
            return Ok(None);
        };
        v.iter()
            .map(|&x| {
                usize::try_from(x)
                    .map_err(|_| self.invalid(format!("attribute {name:?} has negative value {x}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A `FLOATS` attribute.
    pub fn get_floats(&self, name: &str) -> Result<Option<Vec<f32>>, IrError> {
        Ok(self
            .attr(name, AttributeType::Floats)?
            .map(|a| a.floats.clone()))
    }

    /// A `STRING` attribute, decoded as UTF-8 and length-limited.
    pub fn get_string(&self, name: &str) -> Result<Option<String>, IrError> {
        let Some(a) = self.attr(name, AttributeType::String)? else {
            return Ok(None);
        };
        if a.s.len() > limits::MAX_NAME_BYTES {
            return Err(self.invalid(format!("attribute {name:?} is {} bytes long", a.s.len())));
        }
        String::from_utf8(a.s.clone())
            .map(Some)
            .map_err(|_| self.invalid(format!("attribute {name:?} is not UTF-8")))
    }

    /// A `STRING` attribute with a default.
    pub fn string_or(&self, name: &str, default: &str) -> Result<String, IrError> {
        Ok(self
            .get_string(name)?
            .unwrap_or_else(|| default.to_string()))
    }

    /// A `TENSOR` attribute.
    pub fn get_tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, IrError> {
        let Some(a) = self.attr(name, AttributeType::Tensor)? else {
            return Ok(None);
        };
        match &a.t {
            Some(t) => Ok(Some(t)),
            None => Err(self.invalid(format!("attribute {name:?} holds no tensor"))),
        }
    }

    /// A boolean flag stored as an `INT` attribute (0 or 1).
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, IrError> {
        match self.get_int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(self.invalid(format!("attribute {name:?} must be 0 or 1, got {v}"))),
        }
    }
}
