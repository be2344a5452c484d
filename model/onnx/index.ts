/** ONNX export of the ISL network and whole-image inference with ONNX Runtime. */
export { exportOnnx, writeOnnx, onnxOutputName, OPSET, STATISTICS, type Statistic, type OnnxOutput, type OnnxExportOptions } from './export.ts';
export { createInferenceModel, predictStack, closeInferenceModel, passMacs, slotPlanes, reflectIndex, type InferenceModel, type InferenceModelOptions, type PredictStackOptions, type Prediction } from './infer.ts';
export { writeModelDir, readModelDir } from './model_dir.ts';
