export * from './compliance.js'
