from gameday_chaos.cli import main

main()
