
2
gw 2 0123456789abcdef0123456789abcdef8Balerts