module tradewatch/tests/grafana/goparse

go 1.19

require (
	gopkg.in/ini.v1 v1.67.0
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/stretchr/testify v1.12.1 // indirect
