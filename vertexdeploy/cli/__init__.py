"""The command line: thin click commands over `vertexdeploy.deployer`."""
