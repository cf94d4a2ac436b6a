"""The course's data worlds (numpy only): captioned shapes, handwritten digits, toy densities.

Nothing here imports TensorFlow; ``dalle_edu.pipeline`` turns the worlds into tf.data
pipelines.
"""
