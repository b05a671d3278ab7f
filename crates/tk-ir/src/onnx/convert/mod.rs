//! Converter functions, grouped by kind, and the one table that registers them.

mod activation;
mod arithmetic;
mod fold;
mod nn;
mod pool;
mod qlinear;
mod quant;
mod resize;
mod shape;

use super::registry::OpRegistry;

/// Registers a converter for every ONNX op type tachikoma imports.
///
/// Ops marked *fold* exist only at import: their result must be computable from constants
/// (graph shapes are static), so they never reach the run-time graph.
pub fn register_all_ops(registry: &mut OpRegistry) {
    registry.insert("Add", arithmetic::add);
    registry.insert("Sub", arithmetic::sub);
    registry.insert("Mul", arithmetic::mul);
    registry.insert("Div", arithmetic::div);
    registry.insert("Relu", activation::relu);
    registry.insert("Clip", activation::clip);
    registry.insert("LeakyRelu", activation::leaky_relu);
    registry.insert("Sigmoid", activation::sigmoid);
    registry.insert("HardSigmoid", activation::hard_sigmoid);
    registry.insert("HardSwish", activation::hard_swish);
    registry.insert("Softmax", activation::softmax);
    registry.insert("Identity", activation::identity);
    registry.insert("Dropout", activation::dropout);
    registry.insert("Conv", nn::conv);
    registry.insert("Gemm", nn::gemm);
    registry.insert("MatMul", nn::matmul);
    registry.insert("BatchNormalization", nn::batch_norm);
    registry.insert("MaxPool", pool::max_pool);
    registry.insert("AveragePool", pool::average_pool);
    registry.insert("GlobalAveragePool", pool::global_average_pool);
    registry.insert("Reshape", shape::reshape);
    registry.insert("Flatten", shape::flatten);
    registry.insert("Transpose", shape::transpose);
    registry.insert("Squeeze", shape::squeeze);
    registry.insert("Unsqueeze", shape::unsqueeze);
    registry.insert("Concat", shape::concat);
    registry.insert("Slice", shape::slice);
    registry.insert("Pad", shape::pad);
    registry.insert("Gather", shape::gather);
    registry.insert("ReduceMean", shape::reduce_mean);
    registry.insert("Split", shape::split);
    registry.insert("Resize", resize::resize);
    registry.insert("Upsample", resize::upsample);
    registry.insert("QuantizeLinear", quant::quantize_linear);
    registry.insert("DequantizeLinear", quant::dequantize_linear);
    registry.insert("QLinearConv", qlinear::qlinear_conv);
    registry.insert("QLinearMatMul", qlinear::qlinear_matmul);
    registry.insert("ConvInteger", qlinear::conv_integer);
    registry.insert("MatMulInteger", qlinear::matmul_integer);
    registry.insert("DynamicQuantizeLinear", qlinear::dynamic_quantize_linear);
    // Fold-only.
    registry.insert("Constant", fold::constant);
    registry.insert("Shape", fold::shape);
    registry.insert("Cast", fold::cast);
    registry.insert("ConstantOfShape", fold::constant_of_shape);
    registry.insert("Range", fold::range);
}
