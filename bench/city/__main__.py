from bench.city.run import main

main()
