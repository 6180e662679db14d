// Runs a TF.js graph model with TensorFlow.js itself (its pure-JavaScript CPU backend), the
// reference of tests/tools/test_convert_real_models.py:
//   node tfjs_run_graph.js TF_MIN_JS MODEL_JSON INPUT.f32 D0,D1,... OUT_PREFIX [DTYPE]
// INPUT.f32 holds the one input as little-endian float32 of shape D0,D1,... (fed as DTYPE,
// float32 unless given: int32 for graphs that take whole-number pixels); output i of
// the signature is written to OUT_PREFIX.i.f32 and {name: shape} is printed as JSON.
const fs = require('fs');
const path = require('path');
const [bundle, modelJson, inputFile, dims, outPrefix, dtype = 'float32'] = process.argv.slice(2);
const tf = require(path.resolve(bundle));
async function main() {
  await tf.setBackend('cpu');
  const model = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const group = model.weightsManifest[0];
  const buffers = group.paths.map(p => fs.readFileSync(path.join(path.dirname(modelJson), p)));
  const joined = Buffer.concat(buffers);
  const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
  const graph = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: model.modelTopology, format: model.format, signature: model.signature,
    userDefinedMetadata: model.userDefinedMetadata, weightSpecs: group.weights, weightData}));
  const raw = fs.readFileSync(inputFile);
  const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const data = dtype === 'int32' ? Int32Array.from(values) : values;
  const input = tf.tensor(data, dims.split(',').map(Number), dtype);
  const outputs = Object.values(model.signature.outputs).map(o => o.name);
  let results = graph.execute(input, outputs);
  if (!Array.isArray(results)) results = [results];
  const shapes = {};
  results.forEach((t, i) => {
    fs.writeFileSync(`${outPrefix}.${i}.f32`, Buffer.from(t.dataSync().buffer));
    shapes[outputs[i]] = t.shape;
  });
  process.stdout.write(JSON.stringify(shapes));
}
main().catch(e => { console.error(e); process.exit(1); });
