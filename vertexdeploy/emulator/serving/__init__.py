"""Model serving for the local Vertex AI emulator: predictors, batching, routing, logging.

Import `ServingEngine` from `vertexdeploy.emulator.serving.engine`; this package imports
nothing heavy so that the emulator starts fast.
"""
