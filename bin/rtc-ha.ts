#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { addRtcHa } from '../lib/app';
import { loadConfig } from '../lib/config';

const app = new App();
addRtcHa(app, loadConfig(app.node));
