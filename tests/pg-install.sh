#!/usr/bin/env bash
echo /usr/lib/postgresql/$1/bin
