"""The course's data worlds (numpy only): captioned shapes, handwritten digits, toy densities.

``dalle_edu.data.pipeline`` turns them into tf.data pipelines (imports TensorFlow).
"""
