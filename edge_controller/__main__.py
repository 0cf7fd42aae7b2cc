from edge_controller.cli import main

raise SystemExit(main())
