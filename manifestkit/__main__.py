from manifestkit.cli import main

main()
