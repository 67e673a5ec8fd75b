from vertexdeploy.cli.main import main

main()
