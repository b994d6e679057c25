from runner.cli import run_main

run_main()
